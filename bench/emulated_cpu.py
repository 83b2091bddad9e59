"""The CPU qemu-user emulates, qemu's default "max" against the Neoverse N1 the harness names
(harness/envs/numerics.py EMULATED_CPU), in one arm64 image: seconds to import scikit-learn, to fit a
few estimators and to make the calls a cell makes. python bench/emulated_cpu.py IMAGE

IMAGE is an arm64 environment image (e.g. sklmatrix/skl1.9.1-py3.13-np2-arm64:<tag>); the two
CPUs run one after the other, twice each, and the ratios compare the faster run of each.
"""

import json
import subprocess
import sys

WORK = r"""
import json, time
t0 = time.time()
import numpy as np
from sklearn.decomposition import PCA
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import SVC
t1 = time.time()
rng = np.random.RandomState(0)
X = rng.randn(200, 8)
y = (X[:, 0] > 0).astype(int)
models = [m.fit(X, y) for m in (RandomForestClassifier(20, random_state=0), GradientBoostingClassifier(n_estimators=20),
                                LogisticRegression(), SVC(), KNeighborsClassifier())]
pca = PCA(3).fit(X)
t2 = time.time()
for _ in range(5):
    for m in models:
        m.predict(X[:60]); m.score(X[:60], y[:60]); m.predict(X[:1]); m.predict(X[:60].astype(np.float32))
    pca.inverse_transform(pca.transform(X))
t3 = time.time()
print(json.dumps({"import": t1 - t0, "fit": t2 - t1, "calls": t3 - t2}))
"""
CPUS = ("max", "neoverse-n1")


def run(image, cpu):
    """{"import", "fit", "calls"} seconds in a container of image emulating cpu."""
    out = subprocess.run(["docker", "run", "--rm", "--network=none", "-e", f"QEMU_CPU={cpu}", "-e", "OMP_NUM_THREADS=1",
                          "-e", "OPENBLAS_NUM_THREADS=1", "-e", "OPENBLAS_CORETYPE=ARMV8", image, "python", "-c", WORK],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def measure(image):
    """The best of two runs per CPU, and max/N1 ratios per phase."""
    best = {}
    for _ in range(2):
        for cpu in CPUS:
            got = run(image, cpu)
            best[cpu] = {k: min(v, best.get(cpu, {}).get(k, v)) for k, v in got.items()}
    ratios = {k: round(best["max"][k] / best["neoverse-n1"][k], 2) for k in best["max"]}
    return {"seconds": {c: {k: round(v, 2) for k, v in t.items()} for c, t in best.items()}, "max_over_n1": ratios}


if __name__ == "__main__":
    r = measure(sys.argv[1])
    for cpu, times in r["seconds"].items():
        print(f"QEMU_CPU={cpu}: " + ", ".join(f"{k} {v} s" for k, v in times.items()))
    print("MAX/N1 RATIO " + ", ".join(f"{k} {v}x" for k, v in r["max_over_n1"].items()))

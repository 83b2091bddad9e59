"""Synthetic results trees of N cells for the report's tests and benchmark: `python bench/report_synthetic.py`.

The outcomes follow what a real matrix shows: InconsistentVersionWarning across scikit-learn releases,
numpy 2 pickles that numpy 1 cannot load (a known issue), cross-architecture float noise, a failed
build, a failed dump, producer-side n/a and a few crashes, timeouts and pending cells.
"""

import argparse
import copy
import math
import random
import sys
import tempfile
import time
from pathlib import Path

SCHEMA = 2  # SCHEMA_VERSION of harness/inside/schema.py: the schema of each cell's record
RESULTS_SCHEMA = 3  # harness/results/file.py: the report refuses any other results file
FORMATS = ("pickle", "pickle-p5", "joblib", "joblib-z", "cloudpickle", "skops", "onnx")
PICKLING = ("pickle", "pickle-p5", "joblib", "joblib-z", "cloudpickle")

# (name, family) of the reference catalogue, in its order.
CATALOGUE = [tuple(item.split(":")) for item in """
LogisticRegression:linear LogisticRegressionCV:linear RidgeClassifier:linear SGDClassifier-log:linear
SGDClassifier-hinge:linear Perceptron:linear LinearDiscriminantAnalysis:linear LinearRegression:linear
Ridge:linear Lasso:linear ElasticNet:linear SGDRegressor:linear BayesianRidge:linear HuberRegressor:linear
QuantileRegressor:linear PoissonRegressor:linear RANSACRegressor:linear SVC:svm SVC-probability:svm NuSVC:svm
LinearSVC:svm SVR:svm NuSVR:svm LinearSVR:svm OneClassSVM:svm DecisionTreeClassifier:tree
DecisionTreeRegressor:tree ExtraTreeClassifier:tree ExtraTreeRegressor:tree RandomForestClassifier:ensemble
RandomForestRegressor:ensemble ExtraTreesClassifier:ensemble ExtraTreesRegressor:ensemble
GradientBoostingClassifier:ensemble GradientBoostingRegressor:ensemble HistGradientBoostingClassifier:ensemble
HistGradientBoostingRegressor:ensemble AdaBoostClassifier:ensemble AdaBoostRegressor:ensemble
BaggingClassifier:ensemble BaggingRegressor:ensemble IsolationForest:ensemble VotingClassifier:ensemble
VotingRegressor:ensemble StackingClassifier:ensemble StackingRegressor:ensemble
KNeighborsClassifier-kd_tree:neighbors KNeighborsClassifier-ball_tree:neighbors
KNeighborsRegressor-kd_tree:neighbors KNeighborsRegressor-ball_tree:neighbors NearestCentroid:neighbors
LocalOutlierFactor-novelty:neighbors GaussianNB:naive_bayes MultinomialNB:naive_bayes ComplementNB:naive_bayes
BernoulliNB:naive_bayes CategoricalNB:naive_bayes MLPClassifier:neural_network MLPRegressor:neural_network
BernoulliRBM:neural_network GaussianProcessClassifier:gaussian_process GaussianProcessRegressor:gaussian_process
CalibratedClassifierCV-sigmoid:calibration CalibratedClassifierCV-isotonic:calibration
IsotonicRegression:isotonic KMeans:cluster MiniBatchKMeans:cluster Birch:cluster PCA:decomposition
IncrementalPCA:decomposition TruncatedSVD:decomposition NMF:decomposition FastICA:decomposition
KernelPCA:decomposition StandardScaler:preprocessing MinMaxScaler:preprocessing RobustScaler:preprocessing
MaxAbsScaler:preprocessing Normalizer:preprocessing PowerTransformer:preprocessing
QuantileTransformer:preprocessing PolynomialFeatures:preprocessing SplineTransformer:preprocessing
KBinsDiscretizer:preprocessing OneHotEncoder:preprocessing OrdinalEncoder:preprocessing
TargetEncoder:preprocessing FunctionTransformer-numpy:preprocessing FunctionTransformer-lambda:preprocessing
SimpleImputer:impute KNNImputer:impute IterativeImputer:impute MissingIndicator:impute TfidfVectorizer:text
CountVectorizer:text HashingVectorizer:text Pipeline-Tfidf-LogisticRegression:text Pipeline:compose
ColumnTransformer:compose TransformedTargetRegressor:compose EllipticEnvelope:outlier
""".split()]

# Environments in the order they join the synthetic matrix (the report sorts them itself).
POOL = [
    ("1.3.2", "3.11", "1", "amd64"), ("1.6.1", "3.12", "2", "amd64"), ("1.5.2", "3.12", "2", "amd64"),
    ("1.2.2", "3.10", "1", "amd64"), ("1.6.1", "3.12", "2", "arm64"), ("1.4.2", "3.11", "1", "amd64"),
    ("1.5.2", "3.11", "1", "amd64"), ("1.3.2", "3.11", "1", "arm64"), ("1.1.3", "3.10", "1", "amd64"),
    ("1.6.1", "3.13", "2", "amd64"), ("1.4.2", "3.12", "2", "amd64"), ("1.0.2", "3.9", "1", "amd64"),
    ("1.5.2", "3.12", "2", "arm64"), ("1.2.2", "3.11", "1", "amd64"), ("1.6.1", "3.11", "1", "amd64"),
    ("1.4.2", "3.11", "1", "arm64"), ("1.1.3", "3.9", "1", "amd64"), ("1.3.2", "3.12", "1", "amd64"),
]
# More environments for the scale figure (a million cells is about 40 of them): the newer releases
# on the Python versions and numpy majors of the full matrix, in a fixed order.
POOL += [(skl, py, np_, arch) for skl in ("1.7.2", "1.8.0", "1.9.1", "1.0.2", "1.2.2", "0.24.2")
         for py in ("3.11", "3.13", "3.14", "3.9") for np_ in ("2", "1") for arch in ("amd64", "arm64")
         if (skl, py, np_, arch) not in POOL and not (np_ == "2" and skl in ("1.0.2", "1.2.2", "0.24.2"))
         and not (np_ == "1" and py in ("3.13", "3.14"))][:30]
NO_ONNX = {"QuantileRegressor", "PoissonRegressor", "RANSACRegressor", "NuSVR", "OneClassSVM", "IsolationForest",
           "StackingClassifier", "StackingRegressor", "LocalOutlierFactor-novelty", "CategoricalNB", "BernoulliRBM",
           "GaussianProcessClassifier", "IsotonicRegression", "Birch", "NMF", "FastICA", "KernelPCA",
           "PowerTransformer", "QuantileTransformer", "SplineTransformer", "TargetEncoder", "IterativeImputer",
           "MissingIndicator", "HashingVectorizer", "TransformedTargetRegressor", "EllipticEnvelope",
           "FunctionTransformer-lambda", "FunctionTransformer-numpy", "KNNImputer", "MLPRegressor"}
FLOATY = {"linear", "svm", "neural_network", "gaussian_process", "decomposition", "calibration"}
NUMPY_KNOWN = {"reason": "numpy 2 pickles reference numpy._core, which numpy 1 does not have",
               "link": "https://github.com/numpy/numpy/issues/24844"}
PAYLOAD = "<script>alert(1)</script><img src=x onerror=alert(2)>"
SKOPS_DOC = "https://scikit-learn.org/stable/model_persistence.html#security-maintainability-limitations"


def env_id(skl, py, np_, arch):
    """The harness's environment identifier."""
    return f"skl{skl}-py{py}-np{np_}-{arch}"


def _minor(version):
    return int(version.split(".")[1])


def _version_warning(name, old, new):
    return {"category": "InconsistentVersionWarning", "original_version": old,
            "message": f"Trying to unpickle estimator {name} from version {old} when using version {new}. "
                       f"This might lead to breaking code or invalid results. Use at your own risk. "
                       f"For more info please refer to:\n{SKOPS_DOC}"}


def _outcome(rnd, prod, cons, name, family, fmt):
    """One cell's record fields, as the inside loader would write them."""
    skl_p, py_p, np_p, arch_p = prod
    skl_c, py_c, np_c, arch_c = cons
    out = {"status": "identical", "max_abs": 0.0, "max_rel": 0.0, "warnings": []}
    if fmt in PICKLING and np_p == "2" and np_c == "1":
        return {"status": "load-error", "max_abs": None, "max_rel": None, "warnings": [],
                "error": {"type": "ModuleNotFoundError", "message": "No module named 'numpy._core'"}}
    gap = _minor(skl_c) - _minor(skl_p)
    if fmt in PICKLING and gap:
        out["warnings"].append(_version_warning(name.split("-")[0], skl_p, skl_c))
        if family == "ensemble" and "Hist" not in name:
            sub = "DecisionTreeClassifier" if "Classifier" in name else "DecisionTreeRegressor"
            out["warnings"].append(_version_warning(sub, skl_p, skl_c))
        out["status"] = "warning"
        roll = rnd.random()
        if gap < 0 and roll < 0.12:
            return dict(out, status="load-error", max_abs=None, max_rel=None, error={
                "type": "AttributeError", "message": f"Can't get attribute '_loss_{name[:8]}' on <module "
                                                     f"'sklearn._loss.loss' from '/usr/lib/sklearn/_loss/loss.py'>"})
        if gap < 0 and roll < 0.18:
            return dict(out, status="predict-error", max_abs=None, max_rel=None, error=None, methods={
                "predict": {"status": "error", "max_abs": None, "max_rel": None, "detail":
                            f"AttributeError: '{name.split('-')[0]}' object has no attribute 'monotonic_cst'"}})
        if gap >= 3 and "HistGradient" in name:
            return dict(out, status="load-error", max_abs=None, max_rel=None, error={
                "type": "ModuleNotFoundError",
                "message": "No module named 'sklearn.ensemble._hist_gradient_boosting.loss'"})
        if abs(gap) >= 2 and family == "cluster" and roll < 0.5:
            return dict(out, status="mismatch", max_abs=round(rnd.uniform(0.5, 3), 3), max_rel=1.0, methods={
                "predict": {"status": "mismatch", "max_abs": 2.0, "max_rel": 1.0,
                            "detail": "41 of 300 values differ; first at [3]: got 2, want 0"}})
    if fmt == "cloudpickle" and name == "FunctionTransformer-lambda" and py_p != py_c:
        status = "crash" if rnd.random() < 0.5 else "load-error"
        return {"status": status, "max_abs": None, "max_rel": None, "warnings": [], "error": {
            "type": "TypeError" if status == "load-error" else "Signal",
            "message": "code() argument 13 must be str, not int" if status == "load-error"
            else "child killed by SIGSEGV (exit -11)\nFatal Python error: Segmentation fault"}}
    if fmt == "skops" and gap and rnd.random() < 0.25:
        return {"status": "load-error", "max_abs": None, "max_rel": None, "warnings": [], "error": {
            "type": "UntrustedTypesFoundException",
            "message": f"Untrusted types found in the file: ['sklearn._loss.link.Interval{gap}']."}}
    if arch_p != arch_c and family in FLOATY and rnd.random() < 0.5 or fmt == "onnx" and rnd.random() < 0.4:
        ab = 10 ** rnd.uniform(-16, -7)
        out.update(max_abs=float(f"{ab:.3g}"), max_rel=float(f"{ab * rnd.uniform(1, 30):.3g}"))
        out["status"] = "warning" if out["warnings"] else "close"
    roll = rnd.random()
    if roll < 0.001:
        return {"status": "crash", "max_abs": None, "max_rel": None, "warnings": [], "error": {
            "type": "Signal", "message": "child killed by SIGABRT (exit -6)"}}
    if roll < 0.0015:
        return {"status": "timeout", "max_abs": None, "max_rel": None, "warnings": [], "error": {
            "type": "Timeout", "message": "no answer within 60 s"}}
    return out


def _producer_na(name, fmt):
    if fmt == "onnx" and name in NO_ONNX:
        return "n/a", f"skl2onnx has no converter for {name.split('-')[0]}"
    if fmt in ("pickle", "pickle-p5", "joblib", "joblib-z") and name == "FunctionTransformer-lambda":
        return "n/a", "a lambda cannot be pickled by reference (use cloudpickle)"
    if fmt == "skops" and name == "FunctionTransformer-lambda":
        return "error", "TypeError: skops cannot persist a lambda"
    return None


def _env_record(env, build_ok=True, dump_ok=True, artifacts=0):
    skl, py, np_, arch = env
    rec = {"id": env_id(*env), "sklearn": skl, "python": py, "numpy": np_, "arch": arch,
           "numpy_pin": "<2" if np_ == "1" else ">=2,<3", "scipy_pin": "", "missing_formats": {},
           "pinned": {"scikit-learn": skl, "numpy": "1.26.4" if np_ == "1" else "2.1.3", "scipy": "1.13.1",
                      "joblib": "1.4.2", "cloudpickle": "3.1.0", "skops": "0.10.0", "onnx": "1.17.0"},
           "build": {"env": env_id(*env), "ok": build_ok, "tag": f"sklmatrix/{env_id(*env)}:0123456789abcdef",
                     "cached": True, "seconds": 84.2, "error": "", "log_tail": []},
           "dump": {"env_id": env_id(*env), "ok": dump_ok, "cached": False, "seconds": 61.0,
                    "artifacts": artifacts, "error": ""}}
    return rec


def make_results(n_cells=10_000, seed=0, payload=None, pending=0.02, matrix="synthetic"):
    """A results.json dict of about n_cells cells; payload (HTML/script text) lands in every text field."""
    rnd = random.Random(seed)
    per_pair = len(FORMATS) * len(CATALOGUE)
    n_prod = max(2, min(len(POOL) - 1, round(math.sqrt(n_cells / per_pair))))
    producers = POOL[:n_prod]
    consumers = producers + [POOL[n_prod]]  # the last one failed to dump: a consumer only
    n_est = max(3, min(len(CATALOGUE), round(n_cells / (len(FORMATS) * len(producers) * len(consumers)))))
    catalogue = CATALOGUE[:n_est]
    if payload:
        catalogue = [(payload + catalogue[0][0], catalogue[0][1])] + catalogue[1:]
    broken = ("1.0.2", "3.12", "1", "arm64")
    envs = [_env_record(e, artifacts=n_est * len(FORMATS)) for e in producers]
    dump_failed = _env_record(consumers[-1], dump_ok=False)
    dump_failed["dump"]["error"] = "dump exited with 137 (out of memory?) after 3 of 101 estimators"
    envs.append(dump_failed)
    failed = _env_record(broken, build_ok=False, dump_ok=False)
    failed["build"].update(ok=False, tag="", error="pip install failed: no wheel for numpy<2 on cp312 arm64", log_tail=[
        "Step 7/9 : RUN pip install --no-index --find-links /wheels -r /wheels/requirements.txt",
        "Looking in links: /wheels",
        "ERROR: Could not find a version that satisfies the requirement numpy<2 (from versions: none)",
        "ERROR: No matching distribution found for numpy<2" + (" " + payload if payload else "")])
    failed["dump"] = None
    envs.append(failed)
    producer_na, cells = [], []
    for prod in producers:
        pid = env_id(*prod)
        for name, family in catalogue:
            for fmt in FORMATS:
                na = _producer_na(name, fmt)
                if na:
                    reason = na[1] + (" " + payload if payload and name == catalogue[1][0] else "")
                    producer_na.append({"producer": pid, "estimator": name, "family": family, "format": fmt,
                                        "status": na[0], "reason": reason})
                    continue
                for cons in consumers:
                    cid = env_id(*cons)
                    rec = {"key": f"{rnd.getrandbits(96):024x}", "producer": pid, "consumer": cid,
                           "estimator": name, "format": fmt, "family": family, "seconds": 0.02}
                    if pending and cons == consumers[-1] and rnd.random() < pending * len(consumers):
                        rec["status"] = "pending"
                    else:
                        rec.update(_outcome(rnd, prod, cons, name, family, fmt))
                        rec["schema"] = SCHEMA
                    if rec["status"] == "load-error" and rec.get("error", {}).get("message") == \
                            "No module named 'numpy._core'":
                        rec["known"] = dict(NUMPY_KNOWN)
                    cells.append(rec)
    if payload:
        _inject(cells, payload)
    known = [{"producer": "*-np2-*", "consumer": "*-np1-*", "format": "*pickle*", "estimator": "*",
              **NUMPY_KNOWN}]
    if payload:
        known[0]["reason"] += " " + payload
        for cell in cells:
            if "known" in cell:
                cell["known"]["reason"] = known[0]["reason"]
    return {
        "schema": RESULTS_SCHEMA, "matrix": matrix, "generated": "2025-06-02T03:00:00+00:00",
        "harness": {"version": "0.1.0", "inside": "0123456789abcdef", "host_machine": "x86_64"},
        "formats": list(FORMATS), "tolerances": {"default": {"rtol": 1e-7, "atol": 1e-10}, "onnx": {
            "rtol": 1e-4, "atol": 1e-6}},
        "known": known, "environments": envs,
        "dropped": [{"id": "skl1.0.2-py3.12-np1-amd64", "reason": "scikit-learn 1.0.2 has no wheel for Python 3.12"
                     + (" " + payload if payload else "")}],
        "producer_na": producer_na, "cells": cells,
    }


def _inject(cells, payload):
    """Put the payload in an error message and a warning message (the estimator name already has it)."""
    err = next(c for c in cells if c.get("error"))
    err["error"] = {"type": "ValueError", "message": payload + "\nsecond line"}
    warn = next(c for c in cells if c.get("warnings"))
    warn["warnings"] = [{"category": "UserWarning" + payload, "message": payload, "original_version": payload}]


def make_previous(results, seed=1, flip=0.01):
    """An earlier run: some of today's failures were fine then (new breakages), some fine cells failed."""
    rnd = random.Random(seed)
    prev = copy.deepcopy(results)
    prev["generated"] = "2025-06-01T03:00:00+00:00"
    for cell in prev["cells"]:
        status = cell["status"]
        roll = rnd.random()
        if status in ("mismatch", "load-error", "predict-error", "crash", "timeout") and roll < flip * 10:
            cell.update(status="warning" if cell.get("warnings") else "identical", max_abs=0.0, max_rel=0.0)
            cell.pop("error", None)
        elif status in ("identical", "close", "warning") and roll < flip:
            cell.update(status="load-error", error={"type": "EOFError", "message": "Ran out of input"})
        elif status in ("load-error", "crash") and roll < 0.5:
            cell["since"] = "2025-05-20T03:00:00+00:00"
    return prev


def write_tree(root, n_cells=10_000, seed=0, payload=None, previous=True):
    """Write root/results.json.gz (and root/previous-results.json.gz) and return the results dict."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from harness.results import file as results_file

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    results = make_results(n_cells, seed=seed, payload=payload)
    results_file.write(root / results_file.NAME, results)
    if previous:
        results_file.write(root / results_file.PREVIOUS, make_previous(results))
    return results


def measure(size, base=None):
    """Render a synthetic tree of size cells: {"seconds", "html_mb", "json_mb", "summary_kb", "cells"}."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from harness.report import render as report

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(base or tmp) / f"synthetic-{size}"
        results = write_tree(root, size)
        start = time.perf_counter()
        written = report.render(root)
        seconds = time.perf_counter() - start
        return {"cells": len(results["cells"]), "seconds": seconds, "html_mb": written.html.stat().st_size / 1e6,
                "json_mb": (root / "results.json.gz").stat().st_size / 1e6,
                "summary_kb": written.summary.stat().st_size / 1e3}


def main(argv=None):
    """Render synthetic reports and print render time and page size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[10_000, 100_000])
    parser.add_argument("--keep", help="write the trees under this folder instead of a temporary one")
    args = parser.parse_args(argv)
    for size in args.sizes:
        r = measure(size, args.keep)
        print(f"{r['cells']:>7} cells  render {r['seconds']:5.2f} s  index.html {r['html_mb']:5.2f} MB  "
              f"results.json.gz {r['json_mb']:5.1f} MB  summary.md {r['summary_kb']:4.1f} kB")


if __name__ == "__main__":
    main()

"""A run with nothing changed, with and without its shortcuts, on one complete results tree:
python bench/warm_run.py MATRIX_FILE MATRIX REPORTS [--command]

The shortcuts: artifact hashes remembered by their stat (hashcache.py), a complete consumer
planned from its stamp (loads.plan_env), merge and report kept when current (freshness.py).
Without them the same code hashes every artifact, reads every results line, merges and renders.
--command also times what a user waits for, best of three: `./run matrix -- --file MATRIX_FILE
--matrix MATRIX --reports REPORTS` (nox, its install check and the harness), and the harness
process alone in nox's venv; the difference is nox's.
"""

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.stages import freshness, hashcache  # noqa: E402
from harness.config import matrix as matrix_mod  # noqa: E402
from harness.core.files import sha256_file  # noqa: E402
from harness.workflow import Run  # noqa: E402
from harness.stages.tree import RunTree  # noqa: E402


def _timed_run(matrix, reports):
    run = Run(matrix, backend="docker", reports=reports)
    start = time.perf_counter()
    run.everything()
    return time.perf_counter() - start


def measure(matrix, reports):
    """{"with": seconds, "without": seconds}: the warm run with its shortcuts and without."""
    _timed_run(matrix, reports)  # records every stamp, whatever the tree had
    saved = (hashcache.HashCache.sha256, hashcache.HashCache.remembered, RunTree.complete_stamp, freshness.current)
    try:
        hashcache.HashCache.sha256 = lambda self, path: sha256_file(path)
        hashcache.HashCache.remembered = lambda self, rel: None
        RunTree.complete_stamp = lambda self, env_id: None
        freshness.current = lambda *args: None
        without = _timed_run(matrix, reports)
    finally:
        (hashcache.HashCache.sha256, hashcache.HashCache.remembered, RunTree.complete_stamp,
         freshness.current) = saved
    return {"with": _timed_run(matrix, reports), "without": without}


def _best(argv, times=3):
    """The shortest wall time of a command run several times (the machine may be busy)."""
    best = float("inf")
    for _ in range(times):
        start = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - start)
    return best


def measure_command(matrix_file, matrix, reports):
    """{"command": seconds, "harness": seconds}: `./run matrix` warm, and its harness process alone."""
    args = ["--file", str(Path(matrix_file).resolve()), "--matrix", matrix, "--reports", str(Path(reports).resolve())]
    command = [str(ROOT / "run"), "matrix", "--", *args]
    _best(command, times=1)  # makes nox's venvs and every stamp, whatever there was
    return {"command": _best(command),
            "harness": _best([str(ROOT / ".nox" / "matrix" / "bin" / "python"), "-m", "harness", "run", *args])}


def main(argv=None):
    """Print the figures and their ratio."""
    argv = sys.argv[1:] if argv is None else argv
    command = "--command" in argv
    argv = [a for a in argv if a != "--command"]
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[1], file=sys.stderr)
        return 64
    matrix = matrix_mod.load(argv[0], argv[1])
    r = measure(matrix, argv[2])
    print(f"warm run of {matrix.name}: {r['without']:.1f} s without the shortcuts, {r['with']:.1f} s with them: "
          f"WARM RATIO {r['with'] / r['without']:.3f}")
    if command:
        c = measure_command(argv[0], argv[1], argv[2])
        print(f"warm ./run matrix of {matrix.name}: {c['command']:.2f} s, of which the harness process "
              f"{c['harness']:.2f} s and nox {c['command'] - c['harness']:.2f} s (best of three; goal 5 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

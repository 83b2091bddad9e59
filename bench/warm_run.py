"""A run with nothing changed, with and without its shortcuts, on one complete results tree:
python bench/warm_run.py MATRIX_FILE MATRIX REPORTS

The shortcuts: artifact hashes remembered by their stat (hashcache.py), a complete consumer
planned from its stamp (loads.plan_env), merge and report kept when current (freshness.py).
Without them the same code hashes every artifact, reads every results line, merges and renders.
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.stages import freshness, hashcache
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


def main(argv=None):
    """Print both figures and their ratio."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[1], file=sys.stderr)
        return 64
    matrix = matrix_mod.load(argv[0], argv[1])
    r = measure(matrix, argv[2])
    print(f"warm run of {matrix.name}: {r['without']:.1f} s without the shortcuts, {r['with']:.1f} s with them: "
          f"WARM RATIO {r['with'] / r['without']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

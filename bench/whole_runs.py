"""The default matrix's whole runs: the cold run's stages as recorded, and a warm run measured now."""

import time

from harness.core.files import read_json
from harness.workflow import Run


def shares(stages):
    """{stage: (seconds, share of the total)}."""
    total = sum(stages.values()) or 1.0
    return {stage: (seconds, round(seconds / total, 3)) for stage, seconds in stages.items()}


def measure(matrix, reports="reports"):
    """The slowest recorded run (the cold one) and a warm run of the same tree, or None when the
    matrix was never run whole here."""
    run = Run(matrix, backend="docker", reports=reports)
    recorded = read_json(run.tree.timings_json) or []
    if not run.tree.results_json.exists():
        return None
    start = time.perf_counter()
    run.everything()
    warm = time.perf_counter() - start
    latest = (read_json(run.tree.timings_json) or [])[-1]
    cold = max(recorded, key=lambda r: r["total"]) if recorded else None
    return {"warm_seconds": round(warm, 1), "warm_stages": shares(latest["stages"]),
            "cold_seconds": cold and cold["total"], "cold_stages": cold and shares(cold["stages"]),
            "cold_finished": cold and cold["finished"]}

"""The host's cost of judging one loader record against several producer records (every producer
of identical bytes, then the consumer's own refit): a fresh parse and decode per judgement against
one judge.Memo per record, and the producer's arrays decoded per record against once for all
(judge.PRODUCED: the host's real case, one producer record for every format of an estimator).
python bench/host_judge.py [JUDGEMENTS]

The record is synthetic but shaped like a classifier's in schema 2: five methods on each of the
six inputs (60 rows, one row for single-row), float64 outputs of three columns.
"""

import base64
import io
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.results import judge  # noqa: E402
from harness.results.cells import Cell  # noqa: E402
from harness.inside.schema import INPUTS  # noqa: E402

METHODS = ("predict", "predict_proba", "predict_log_proba", "decision_function", "apply")
TOL = (1e-7, 1e-10)


def _npy(value):
    buf = io.BytesIO()
    np.save(buf, value, allow_pickle=False)
    return {"kind": "ok", "npy": base64.b64encode(buf.getvalue()).decode(), "sparse": False}


def _arrays(seed):
    rng = np.random.RandomState(seed)
    out = {}
    for name in INPUTS:
        rows = 1 if name == "single-row" else 60
        for method in METHODS:
            call = method if name == "fixed" else f"{method}@{name}"
            out[call] = rng.randint(0, 3, rows) if method == "predict" else rng.rand(rows, 3)
    return out


def case(judgements):
    """(cell, loader record, producer records) with the consumer's outputs equal to the first one's."""
    produced = [_arrays(0)] + [_arrays(i) for i in range(1, judgements)]
    child = {"load": "ok", "warnings": [], "methods": {c: _npy(v) for c, v in produced[0].items()}}
    record = {"child": json.dumps(child), "outcome": {"exit_code": 0}}
    expected = [{"schema": 2, "task": "classification", "input_sha256": "1" * 64,
                 "methods": {c: {"dtype": str(v.dtype), "shape": list(v.shape), "data": v.tolist()}
                             for c, v in p.items()}} for p in produced]
    cell = Cell("k", "p", "Est", "pickle", "p/Est/model.pkl", "p/Est/outputs.json", "0" * 64,
                "sklearn.ensemble.Est", None, "classification", "1" * 64)
    return cell, record, expected


def measure(judgements=3, rounds=200):
    """Seconds per record judged `judgements` times, without and with a shared memo, and their ratio."""
    cell, record, expected = case(judgements)

    def timed(shared, produced=True):
        start = time.perf_counter()
        for _ in range(rounds):
            memo = judge.Memo() if shared else None
            if not produced:  # every record's producer arrays decoded afresh, as before judge.PRODUCED
                judge.PRODUCED = judge._Produced()
            for want in expected:
                judge.judge(cell, "c", record, want, TOL, 60, memo)
        return (time.perf_counter() - start) / rounds

    timed(True)  # warm caches and imports
    undecoded, fresh, shared = timed(True, produced=False), timed(False), timed(True)
    return {"judgements": judgements, "fresh_ms": round(1e3 * fresh, 2), "memo_ms": round(1e3 * shared, 2),
            "ratio": round(shared / fresh, 3), "undecoded_ms": round(1e3 * undecoded, 2),
            "produced_ratio": round(shared / undecoded, 3)}


if __name__ == "__main__":
    r = measure(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
    print(f"host judge of one record judged {r['judgements']} times: {r['fresh_ms']} ms parsing and decoding "
          f"each time, {r['memo_ms']} ms with one memo: MEMO/FRESH RATIO {r['ratio']}")
    print(f"  with one memo, the producer's arrays decoded for each record {r['undecoded_ms']} ms against once "
          f"for every record: PRODUCED/UNDECODED RATIO {r['produced_ratio']}")

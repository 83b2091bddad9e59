"""The published results of one run in each format, side by side: python bench/results_size.py RESULTS

RESULTS is a results file of schema 2 (results.json) or 3 (results.json.gz). Prints the size and
the write and read time of schema 2's indented JSON, schema 3's gzipped JSON and the Parquet
table of the same cells, and their ratios.
"""

import gzip
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.results import file as results_file  # noqa: E402


def _timed(action):
    start = time.perf_counter()
    value = action()
    return value, time.perf_counter() - start


def measure(path):
    """{format: {"mb", "write_s", "read_s"}} for the cells of the results file at path."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        results = json.load(handle)
    results["schema"] = results_file.RESULTS_SCHEMA
    out = {"cells": len(results["cells"])}
    with tempfile.TemporaryDirectory() as tmp:
        plain, packed, table = Path(tmp) / "results.json", Path(tmp) / results_file.NAME, Path(tmp) / results_file.PARQUET
        _, seconds = _timed(lambda: plain.write_text(json.dumps(results, indent=1, sort_keys=True)))
        _, read = _timed(lambda: json.loads(plain.read_text()))
        out["schema 2 results.json"] = {"mb": plain.stat().st_size / 1e6, "write_s": seconds, "read_s": read}
        _, seconds = _timed(lambda: results_file.write(packed, results))
        _, read = _timed(lambda: results_file.read(packed))
        out["schema 3 results.json.gz"] = {"mb": packed.stat().st_size / 1e6, "write_s": seconds, "read_s": read}
        _, seconds = _timed(lambda: results_file.write_parquet(table, results))
        import pyarrow.parquet as pq
        _, read = _timed(lambda: pq.read_table(table))
        out["results.parquet"] = {"mb": table.stat().st_size / 1e6, "write_s": seconds, "read_s": read}
    return out


def main(argv=None):
    """Print the figures and the size ratios against schema 2."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 64
    r = measure(argv[0])
    base = r["schema 2 results.json"]["mb"]
    print(f"{r['cells']:,} cells")
    for name, f in r.items():
        if name != "cells":
            print(f"  {name:26} {f['mb']:8.1f} MB  write {f['write_s']:5.1f} s  read {f['read_s']:5.1f} s"
                  f"  SIZE RATIO {base / f['mb']:5.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

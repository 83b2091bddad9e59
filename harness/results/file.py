"""The published results, the one module that writes and reads them: results.json.gz (compact
JSON, gzip) for programs, results.parquet (a row per cell) for analysis.

Schema 3 of the results file is schema 2's content, compact and gzipped (23x smaller for the
default matrix); its cells are the records of the shared schema (inside/schema.py).
"""

import gzip
import json
import zlib

from ..core.files import write_bytes
from ..core.untrusted import RESULTS_MAX, UntrustedInput, loads_bounded, read_bytes_bounded

RESULTS_SCHEMA = 3
NAME, PREVIOUS, PARQUET = "results.json.gz", "previous-results.json.gz", "results.parquet"
LEGACY = ("results.json", "previous-results.json")  # schema 2 names: refused, with what to do


def other_schema(data):
    """None when parsed results state RESULTS_SCHEMA, else what they state ("schema 2"), for the
    message of whoever refuses them: every reader and writer of results files asks here."""
    found = data.get("schema") if isinstance(data, dict) else None
    return None if found == RESULTS_SCHEMA else f"schema {found!r:.40}"


def encode(results):
    """The bytes of results.json.gz: sorted keys, no spaces, gzip level 6 (mtime 0: the same
    results give the same bytes)."""
    text = json.dumps(results, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return gzip.compress(text.encode("utf-8"), compresslevel=6, mtime=0)


def write(path, results):
    """Write results.json.gz atomically."""
    write_bytes(path, encode(results))


def decode(data, what="results", max_bytes=RESULTS_MAX):
    """The results in gzip bytes, decompressed within max_bytes (a gzip bomb from another machine
    stops there), parsed within the nesting bound; UntrustedInput otherwise."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip header and trailer
    try:
        text = inflater.decompress(data, max_bytes + 1)
    except zlib.error as exc:
        raise UntrustedInput(f"{what} is not gzip: {exc}") from None
    if len(text) > max_bytes or inflater.unconsumed_tail:
        raise UntrustedInput(f"{what} inflates to more than the {max_bytes:,} bytes allowed")
    return loads_bounded(text, what=what)


def read(path, nofollow=False):
    """The parsed results at path; FileNotFoundError passes, anything unusable is UntrustedInput."""
    return decode(read_bytes_bounded(path, RESULTS_MAX, nofollow=nofollow), what=str(path))


PARQUET_COLUMNS = ("key", "producer", "consumer", "estimator", "family", "format", "status", "max_abs",
                   "max_rel", "error_type", "error_message", "warnings", "known", "canary", "record")


def _row(cell):
    err = cell.get("error") if isinstance(cell.get("error"), dict) else {}
    warnings = [f"{w.get('category')}: {w.get('message')}" for w in cell.get("warnings") or () if isinstance(w, dict)]
    number = [cell.get(k) if isinstance(cell.get(k), (int, float)) and not isinstance(cell.get(k), bool) else None
              for k in ("max_abs", "max_rel")]
    known = cell.get("known") if isinstance(cell.get("known"), dict) else {}
    canary = cell.get("canary") if isinstance(cell.get("canary"), dict) else {}
    return [str(cell.get("key", "")), str(cell.get("producer", "")), str(cell.get("consumer", "")),
            str(cell.get("estimator", "")), str(cell.get("family", "")), str(cell.get("format", "")),
            str(cell.get("status", "")), *number, err.get("type"), err.get("message"), warnings,
            known.get("reason"), canary.get("status"), json.dumps(cell, sort_keys=True, allow_nan=True, default=str)]


def write_parquet(path, results):
    """results.parquet: one row per cell, the columns an analysis filters on, and the whole
    record as JSON text (zstd-compressed, strings dictionary-encoded)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [_row(cell) for cell in results["cells"]]
    columns = list(zip(*rows)) if rows else [()] * len(PARQUET_COLUMNS)
    types = {"max_abs": pa.float64(), "max_rel": pa.float64(), "warnings": pa.list_(pa.string())}
    table = pa.table({name: pa.array(list(values), type=types.get(name, pa.string()))
                      for name, values in zip(PARQUET_COLUMNS, columns)},
                     metadata={"schema": str(RESULTS_SCHEMA), "matrix": str(results.get("matrix", "")),
                               "generated": str(results.get("generated", ""))})
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    tmp.chmod(0o644)
    tmp.replace(path)

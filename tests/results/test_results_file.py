"""The published results: gzipped JSON read within bounds, and a Parquet table of the same cells."""

import gzip
import json

import pyarrow.parquet as pq
import pytest

from harness.results import file as results_file
from harness.core.untrusted import UntrustedInput


def _results(cells):
    return {"schema": results_file.RESULTS_SCHEMA, "matrix": "m", "generated": "2026-12-02T00:00:00+00:00",
            "cells": cells}


CELLS = [{"key": "k1", "producer": "p", "consumer": "c", "estimator": "Ridge", "family": "linear",
          "format": "pickle", "status": "close", "max_abs": 1e-9, "max_rel": 2e-9,
          "warnings": [{"category": "UserWarning", "message": "w"}]},
         {"key": "k2", "producer": "p", "consumer": "c", "estimator": "SVC", "format": "skops",
          "status": "load-error", "error": {"type": "TypeError", "message": "no"}, "max_abs": float("inf"),
          "known": {"reason": "a known one"}}]


def test_results_round_trip_and_the_same_results_give_the_same_bytes(tmp_path):
    path = tmp_path / results_file.NAME
    results_file.write(path, _results(CELLS))
    assert results_file.read(path)["cells"][1]["max_abs"] == float("inf")
    assert results_file.encode(_results(CELLS)) == path.read_bytes()  # no time stamp in the gzip header
    plain = len(json.dumps(_results(CELLS * 500), indent=1))
    assert len(results_file.encode(_results(CELLS * 500))) * 20 < plain


def test_a_gzip_bomb_or_a_plain_file_is_refused(tmp_path):
    bomb = tmp_path / "bomb.json.gz"
    bomb.write_bytes(gzip.compress(b"[" + b" " * (4 << 20) + b"]"))
    with pytest.raises(UntrustedInput, match="inflates to more than"):
        results_file.decode(bomb.read_bytes(), max_bytes=1 << 20)
    plain = tmp_path / "results.json"
    plain.write_text(json.dumps(_results([])))
    with pytest.raises(UntrustedInput, match="is not gzip"):
        results_file.read(plain)
    deep = tmp_path / "deep.json.gz"
    deep.write_bytes(gzip.compress(b"[" * 100_000 + b"]" * 100_000))
    with pytest.raises(UntrustedInput, match="nests"):
        results_file.read(deep)


def test_parquet_has_a_row_per_cell_and_the_whole_record(tmp_path):
    path = tmp_path / results_file.PARQUET
    results_file.write_parquet(path, _results(CELLS))
    table = pq.read_table(path)
    assert table.num_rows == 2 and table.schema.metadata[b"schema"] == b"3"
    rows = table.to_pylist()
    assert [r["status"] for r in rows] == ["close", "load-error"]
    assert rows[0]["warnings"] == ["UserWarning: w"] and rows[1]["error_type"] == "TypeError"
    assert rows[1]["known"] == "a known one" and rows[0]["max_rel"] == 2e-9
    assert json.loads(rows[1]["record"])["error"]["message"] == "no"
    results_file.write_parquet(path, _results([]))
    assert pq.read_table(path).num_rows == 0


def test_one_check_says_what_schema_a_results_file_states():
    assert results_file.other_schema({"schema": results_file.RESULTS_SCHEMA}) is None
    assert results_file.other_schema({"schema": 2}) == "schema 2"
    assert results_file.other_schema(["not", "a", "record"]) == "schema None"
    assert results_file.other_schema({"schema": "x" * 100}) == "schema " + repr("x" * 100)[:40]

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


def test_the_file_is_one_json_document_a_cell_a_line_read_a_cell_at_a_time(tmp_path):
    path = tmp_path / results_file.NAME
    results_file.write(path, _results(CELLS * 3000))
    text = gzip.decompress(path.read_bytes()).decode()
    assert json.loads(text) == results_file.read(path)  # any JSON reader takes it whole
    lines = text.split("\n")
    assert len(lines) == 6002 and lines[0].endswith('"cells":[') and lines[-1] == "]}"
    header, cells = results_file.open_results(path)
    assert header["matrix"] == "m" and "cells" not in header
    assert next(cells)["key"] == "k1" and sum(1 for _ in cells) == 5999
    results_file.write(path, _results([]))
    assert results_file.read(path)["cells"] == []


def test_header_fields_may_be_added_until_the_writer_closes(tmp_path):
    path = tmp_path / results_file.NAME
    header = {"schema": results_file.RESULTS_SCHEMA}
    writer = results_file.Writer(path, header)
    writer.add(CELLS[0])
    header["proof"] = {"ok": True}  # known only once every cell went through
    assert not path.exists()  # nothing in place before close
    writer.close()
    assert results_file.read(path)["proof"] == {"ok": True} and writer.cells == 1
    aborted = results_file.Writer(path, {"schema": 0})
    aborted.add(CELLS[1])
    aborted.abort()
    assert results_file.read(path)["schema"] == results_file.RESULTS_SCHEMA  # the old file stays
    assert [p.name for p in tmp_path.iterdir()] == [results_file.NAME]  # no temporary file left


def test_a_file_written_whole_by_an_older_harness_is_read_too(tmp_path):
    path = tmp_path / results_file.NAME
    path.write_bytes(gzip.compress(json.dumps(_results(CELLS), separators=(",", ":")).encode()))
    assert results_file.read(path)["cells"][0]["key"] == "k1"


def test_a_cut_damaged_or_extended_stream_is_refused(tmp_path):
    good = results_file.encode(_results(CELLS * 2000))
    for name, data in [("cut", good[:len(good) // 2]),
                       ("no end", gzip.compress(gzip.decompress(good)[:-3])),
                       ("more", gzip.compress(gzip.decompress(good) + b'\n{"key": "x"}')),
                       ("bad line", gzip.compress(gzip.decompress(good).replace(b'"k2"', b'"k2', 1))),
                       ("deep line", gzip.compress(gzip.decompress(good).replace(
                           b'"family":"linear"', b'"family":' + b"[" * 100 + b"]" * 100, 1)))]:
        path = tmp_path / f"{name}.json.gz"
        path.write_bytes(data)
        with pytest.raises(UntrustedInput):
            results_file.read(path)


def test_the_file_is_one_gzip_member_as_any_gzip_reader_expects(tmp_path):
    import zlib

    path = tmp_path / results_file.NAME
    results_file.write(path, _results(CELLS * 10))
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    text = inflater.decompress(path.read_bytes())
    assert inflater.eof and not inflater.unused_data and json.loads(text)["cells"][19]["key"] == "k2"

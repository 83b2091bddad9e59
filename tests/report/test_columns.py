"""The page's data format is derived from the cell record: every CellResult field is shown by a page
column or said not to be, each column changes with the fields it names and with no other, and the
page's script reads the version the renderer writes."""

import copy
import re
import typing
from pathlib import Path

import pytest

from harness.report import columns, model as report_model
from harness.results.record import CellResult
from harness.inside.schema import Status
from test_report import cell, env, results_of

SCRIPT = Path(columns.__file__).resolve().parent / "templates" / "report.js"
RECORD_FIELDS = set(typing.get_type_hints(CellResult))
P, C = "skl1.3.2-py3.11-np1-amd64", "skl1.5.2-py3.11-np1-amd64"

# Records that between them make every column show something: a load error, a call mismatch and
# a warning with close predictions.
BASES = (
    cell(P, C, "LogisticRegression", Status.LOAD_ERROR, error={"type": "ModuleNotFoundError", "message": "numpy._core"},
         known={"reason": "numpy 2 pickles", "link": "https://numpy.org/"}, since="2025-01-01T00:00:00+00:00"),
    cell(P, C, "SVC", Status.MISMATCH, error=None, max_abs=0.5, max_rel=0.25,
         methods={"predict": {"status": "mismatch", "detail": "1 of 60 labels differ"}},
         grid={"predict": "IM"}, type_changes=["predict: dtype int64 -> int32"],
         state={"missing": ["multi_class"], "added": [], "changed": [], "counts": {"missing": 1}},
         refit={"status": Status.IDENTICAL, "max_abs": 0.0},
         cv={"producer": [0.8, 0.9], "consumer": 0.85, "in_range": True}),
    cell(P, C, "KMeans", Status.WARNING, max_abs=1e-9, max_rel=1e-8,
         warnings=[{"category": "InconsistentVersionWarning", "original_version": "1.3.2",
                    "message": "Trying to unpickle estimator KMeans from version 1.3.2 when using version 1.5.2."}]),
)
PREVIOUS_STATUS = Status.IDENTICAL  # every base's previous run, so that `ch` says something

# A different value of each field, of the record's own type.
CHANGED = {
    "schema": lambda v: v + 1, "key": lambda v: v + "x", "producer": lambda v: C, "consumer": lambda v: P,
    "estimator": lambda v: v + "2", "format": lambda v: "skops", "family": lambda v: "tree",
    "status": lambda v: Status.CRASH if v != Status.CRASH else Status.TIMEOUT,
    "max_abs": lambda v: 0.0 if v else 0.75, "max_rel": lambda v: 0.125,
    "methods": lambda v: {"predict": {"status": "error", "detail": "AttributeError: other"}},
    "warnings": lambda v: [{"category": "FutureWarning", "message": "something else", "original_version": None}],
    "error": lambda v: {"type": "AttributeError", "message": "other"},
    "signal": lambda v: 11, "exit_code": lambda v: 139, "untrusted": lambda v: ["numpy.dtype"],
    "grid": lambda v: {"predict": "II"}, "type_changes": lambda v: ["predict: dtype float64 -> float32"],
    "state": lambda v: {"missing": ["other_"], "added": [], "changed": [], "counts": {"missing": 1}},
    "seconds": lambda v: 9.5, "refit": lambda v: {"status": Status.MISMATCH, "max_abs": 1.0},
    "cv": lambda v: {"producer": [0.1, 0.2], "consumer": 0.9, "in_range": False},
    "canary": lambda v: {"status": "mismatch"},
    "known": lambda v: {"reason": "another reason", "link": "https://example.org/"},
    "since": lambda v: "2024-01-01T00:00:00+00:00",
}


def view(record):
    """What the page shows of one record: each column's value for its row, references resolved."""
    results = results_of([record], envs=[env("1.3.2"), env("1.5.2")])
    previous = results_of([dict(record, status=PREVIOUS_STATUS, since=None)], envs=[env("1.3.2"), env("1.5.2")],
                          generated="2025-06-01T00:00:00+00:00")
    data = report_model.build(results, previous).data
    r, g = columns.rows_of(data), data["g"]
    if not r["s"]:
        return None  # not a grid row (a canary)
    text = lambda ref: data["S"][ref - 1] if ref else ""  # noqa: E731
    return {
        "g": tuple(data["envs"][g["p"][0]][0] for _ in (0,)) + (data["envs"][g["c"][0]][0], data["formats"][g["f"][0]]),
        "s": r["s"][0], "e": data["est"][r["e"][0]], "a": r["a"][0], "q": r["q"][0],
        "w": [[text(x) for x in data["W"][r["w"][0] - 1]]] if r["w"][0] else [],
        "x": text(r["x"][0]), "m": text(r["m"][0]),
        "k": [text(x) for x in data["K"][r["k"][0] - 1]] if r["k"][0] else [],
        "n": text(r["n"][0]), "wc": 0 in r["wc"], "ch": r["ch"][0],
        "estFam": data["fams"][data["estFam"][r["e"][0]]],
    }


def test_every_record_field_is_shown_by_a_column_or_said_not_to_be():
    shown = columns.shown_fields()
    assert shown | set(columns.NOT_ON_PAGE) == RECORD_FIELDS
    assert not shown & set(columns.NOT_ON_PAGE)
    assert set(CHANGED) == RECORD_FIELDS  # this test changes every field


def test_the_page_data_has_exactly_the_declared_columns():
    data = report_model.build(results_of(list(BASES), envs=[env("1.3.2"), env("1.5.2")])).data
    assert set(data["r"]) == {c.key for c in columns.ROW_COLUMNS}
    assert {c.key for c in columns.TABLE_COLUMNS} <= set(data) and columns.GROUP.key in data
    assert data["v"] == columns.PAGE_DATA_VERSION


@pytest.mark.parametrize("column", [columns.GROUP, *columns.ROW_COLUMNS, *columns.TABLE_COLUMNS],
                         ids=lambda c: c.key)
def test_a_column_changes_with_each_field_it_names(column):
    for name in column.fields:
        changed = [base for base in BASES
                   if view(dict(base, **{name: CHANGED[name](base.get(name))}))[column.key] != view(base)[column.key]]
        assert changed, f"column {column.key} does not change with {name}"


@pytest.mark.parametrize("name", sorted(set(columns.NOT_ON_PAGE) - {"canary"}))
def test_a_field_not_on_the_page_changes_no_column(name):
    for base in BASES:
        assert view(dict(base, **{name: CHANGED[name](base.get(name))})) == view(base)


def test_a_canary_leaves_the_grid_for_its_own_table():
    base = copy.deepcopy(BASES[0])
    assert view(dict(base, canary={"status": "load-error"})) is None
    built = report_model.build(results_of([dict(base, canary={"status": "load-error"})]))
    assert [c["estimator"] for c in built.canaries] == ["LogisticRegression"]


def test_the_script_reads_the_version_the_renderer_writes():
    found = re.findall(r"const PAGE_DATA_VERSION = (\d+);", SCRIPT.read_text(encoding="utf-8"))
    assert found == [str(columns.PAGE_DATA_VERSION)]
    assert "D.v !== PAGE_DATA_VERSION" in SCRIPT.read_text(encoding="utf-8")


def test_a_sparse_column_holds_the_common_value_once_and_reads_back_row_for_row():
    for values in ([0, 0, 3, 0, 0, 7], [None, 0.0, 0.0, None, 1e-9], [], [5], [0.0, None, None]):
        column = columns.sparse(values)
        assert columns.dense(column, len(values)) == values
        assert len(column["v"]) == len(values) - (max(map(values.count, values)) if values else 0)
    assert columns.sparse([0, 0, 3, 0])["i"] == [3] and columns.sparse([None, None, 0.0])["v"] == [0.0]

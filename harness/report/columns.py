"""The page's data format, derived from the cell record: which page column shows which CellResult fields.

The page embeds one array per column (data.r) rather than one object per cell, and its script
(templates/report.js) reads them by these letters. Every field of results/record.CellResult is
either shown by a column below or named in NOT_ON_PAGE with the reason: a new field of the record
fails tests/report/test_columns.py until it is placed here, and a change of the columns changes
PAGE_DATA_VERSION, which the page's script checks before it reads anything.
"""

from typing import NamedTuple

# Of the page's embedded data; templates/report.js declares the same number and refuses any other.
# 5: the columns of SPARSE come as {"d", "i", "v"} (4 had every column as one value per row; 3
# also read the legacy diff, predictions and dict warnings that no stage writes).
PAGE_DATA_VERSION = 5


class Column(NamedTuple):
    """One array of the page data, one value per row, computed from the named record fields."""

    key: str
    fields: tuple
    shows: str


# Rows are cells sorted by producer, consumer, format and estimator; data.g holds the
# (producer, consumer, format) groups, which stand for those three fields.
GROUP = Column("g", ("producer", "consumer", "format"), "p/c/f: environment and format indexes; s: first row")
ROW_COLUMNS = (
    Column("s", ("status",), "a letter per row: chr(97 + the status's index in data.statuses)"),
    Column("e", ("estimator",), "index in data.est"),
    Column("a", ("max_abs",), "the largest absolute difference, three significant digits"),
    Column("q", ("max_rel",), "the largest relative difference, three significant digits"),
    Column("w", ("warnings",), "reference into data.W: the (category, message, from-version) triples"),
    Column("x", ("error", "methods"), "reference into data.S: the error's first line, else the first failing call's"),
    Column("m", ("grid", "type_changes", "state", "refit", "cv", "methods"),
           "reference into data.S: the calls grid, type changes, state changes, refit and cross-validation"),
    Column("k", ("known",), "reference into data.K: the [[known]] entry's reason and link"),
    Column("n", ("since",), "reference into data.S: since when a failing cell fails"),
    Column("wc", ("status", "max_abs"), "rows of warning cells whose predictions were only close"),
    Column("ch", ("status",), "a letter per row against the previous run: b(reakage), f(ix), s(till), ."),
)
# Columns the report model builds apart (a string of letters, a list of rows), not one value per row.
BUILT_APART = ("s", "ch", "wc")
# Per environment and per estimator rather than per row.
TABLE_COLUMNS = (
    Column("estFam", ("family",), "the family index of each entry of data.est"),
)

NOT_ON_PAGE = {
    "schema": "checked by the collection, which refuses another record schema",
    "key": "the cache key of the cell's inputs: the page identifies a cell by producer, consumer, estimator, format",
    "signal": "the judge puts the child's signal into the error's message",
    "exit_code": "the judge puts the child's exit code into the error's message",
    "untrusted": "the skops types the trust policy checked: a refusal's error names them; results.json.gz keeps them",
    "seconds": "the loader's time, for benchmarks; results.json.gz keeps it",
    "canary": "canaries have a table of their own (the proof), not grid rows",
}


# Columns whose rows mostly hold one value (no error, no warning, no difference): they are sent as
# that value ("d"), the gaps between the rows that hold another ("i") and those values ("v"),
# which makes a million-cell page a third smaller, and so faster to open.
SPARSE = ("a", "q", "w", "x", "m", "k", "n")


def _differs(value, default):
    return (value is None) != (default is None) or (value is not None and value != default)


def sparse(values):
    """A SPARSE column's form in the page data."""
    counts = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    default = max(counts, key=counts.get) if counts else 0
    gaps, held, last = [], [], -1
    for i, value in enumerate(values):
        if _differs(value, default):
            gaps.append(i - last)
            held.append(value)
            last = i
    return {"d": default, "i": gaps, "v": held}


def dense(column, rows):
    """One value per row of a column of the page data (what templates/report.js makes of it)."""
    if isinstance(column, list):
        return column
    out, i = [column["d"]] * rows, -1
    for gap, value in zip(column["i"], column["v"]):
        i += gap
        out[i] = value
    return out


def rows_of(data):
    """The page data's row columns, one value per row each."""
    rows = len(data["r"]["s"])
    return {key: dense(value, rows) if key in SPARSE else value for key, value in data["r"].items()}


def shown_fields():
    """Every record field some column shows."""
    return {f for column in (GROUP, *ROW_COLUMNS, *TABLE_COLUMNS) for f in column.fields}

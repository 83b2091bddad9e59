"""One pass over a run's cells: a small row per cell for the page's grids, and the tallies the
report shows, so that a million cells are read one at a time and never held as records."""

import contextlib
import gc
from typing import NamedTuple

from ..results import canaries, causes
from ..inside.schema import Status
from . import cross_arch
from .texts import OK, BAD, RANK, calls_text, diff_of, error_text, first_line, warnings_of

NEW = object()          # Row.was of a cell the previous run did not have
UNCOMPARED = object()   # Row.was when there is no previous run, or for producer-side n/a


@contextlib.contextmanager
def collector_paused():
    """Python's cycle collector off for a pass over the cells: they allocate millions of objects,
    none of which form cycles, and each full collection would walk every row held so far."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class Row(NamedTuple):
    """What the page shows of one cell."""

    producer: str
    consumer: str
    format: str
    estimator: str
    status: str
    max_abs: object
    max_rel: object
    warns: tuple      # ((category, message, version), ...)
    error: str
    calls: str
    known: object     # (reason, link) or None
    since: object
    was: object       # the previous run's status, NEW or UNCOMPARED


class Previous(NamedTuple):
    """What the report needs of a previous run: when it was made and each cell's (status, since)."""

    generated: str
    before: dict
    merge: str = ""   # the id of the merge that wrote them (its blocks are kept while it is the baseline)


def cell_id(record):
    """What identifies a cell across runs (its key hashes image tags, which change)."""
    return (record.get("producer"), record.get("consumer"), record.get("estimator"), record.get("format"))


def previous_of(results):
    """The Previous of a results dict whose cells may be an iterator (read once)."""
    def outcomes():
        for cell in results.get("cells") or ():
            if isinstance(cell, dict):
                yield cell_id(cell), cell.get("status"), cell.get("since")
    return previous_from(results.get("generated"), outcomes(), results.get("merge"))


def previous_from(generated, outcomes, merge=None):
    """The Previous of a run made then (by that merge), from its cells' (cell id, status, since)."""
    memo, before = {}, {}
    for ident, status, since in outcomes:
        try:  # the file comes from anywhere: a cell whose names are not strings identifies nothing
            before[tuple(memo.setdefault(v, v) for v in ident)] = (status, since)
        except TypeError:
            continue
    return Previous(str(generated or ""), before, merge if isinstance(merge, str) else "")


def since_of(record, before, generated, previous_generated):
    """When a failing cell first failed: its own field, the previous run's (before is that run's
    (status, since) of the cell), or this run."""
    if record.get("status") not in BAD:
        return None
    if record.get("since"):
        return record["since"]
    if before is not None and before[0] in BAD:
        return before[1] or previous_generated
    return generated if before is not None else None


def classify(before, now):
    """'breakage', 'fix', 'still' (failing both times) or None between two statuses."""
    if before in OK and now in BAD:
        return "breakage"
    if before in BAD and now in OK:
        return "fix"
    if before in BAD and now in BAD:
        return "still"
    return None


class Pass:
    """Rows and tallies of the cells added one by one, then of the producer-side n/a."""

    COUNTERS = ("typed", "type_changed", "refits", "refits_differ", "matched_kept")

    def __init__(self, generated, previous=None, memo=None):
        self.generated, self.previous = generated, previous
        self.rows = []
        self.ids = {}           # every environment id a cell names, in order
        self.estimators = {}    # name -> family, first seen
        self.formats = {}       # first seen
        self.canaries = []
        self.causes = causes.Tally()
        self.twins = cross_arch.Tally()
        self.typed = 0          # cells with a type_changes field (the page's card)
        self.type_changed = 0   # cells whose type_changes list is not empty (summary.md)
        self.refits = self.refits_differ = 0
        self.matched = set()    # previous cells this run has too
        self.matched_kept = 0   # and those of blocks kept whole (all of them were in the previous run)
        self._memo = {} if memo is None else memo

    @property
    def memo(self):
        """The pass's shared strings, for the passes of its blocks."""
        return self._memo

    def _same(self, value):
        """One object per distinct string: a million rows share a few thousand texts."""
        try:
            return self._memo.setdefault(value, value)
        except TypeError:
            return value

    def add(self, record):
        """Take one cell of the results; its Row, or None (a canary)."""
        if not isinstance(record, dict):
            return None
        for env_id in (record.get("producer"), record.get("consumer")):
            if env_id and isinstance(env_id, str):
                self.ids.setdefault(env_id)
        self.twins.add(record)
        if isinstance(record.get("refit"), dict):
            self.refits += 1
            self.refits_differ += record["refit"].get("status") not in (Status.IDENTICAL, Status.CLOSE)
        if record.get("type_changes") and not record.get("canary"):
            self.type_changed += 1
        if isinstance(record.get("canary"), dict):
            expected = record["canary"]
            self.canaries.append({
                "producer": record.get("producer"), "estimator": record.get("estimator"), "status": record.get("status"),
                "expected": str(expected.get("status")) + (" with a type change" if expected.get("type_change") else ""),
                "problem": canaries.verdict(record), "error": error_text(record)})
        if record.get("canary"):
            return None  # canaries have a table of their own
        if "type_changes" in record and "canary" not in record:
            self.typed += 1
        self.causes.add(record)
        return self._row(record, False)

    def add_na(self, na, consumers):
        """Take one producer-side n/a: a row for each consumer."""
        reason = first_line(na.get("reason")) or "the producer could not write this format"
        error = f"producer could not write it ({na.get('status') or 'n/a'}): {reason}"
        for consumer in consumers:
            self._row({"producer": na.get("producer"), "consumer": consumer, "estimator": na.get("estimator"),
                       "format": na.get("format"), "family": na.get("family", ""), "status": Status.NOT_APPLICABLE,
                       "error": {"type": "", "message": error}}, True)

    def _row(self, record, producer_na):
        status = record.get("status")
        if status not in RANK:
            record = dict(record, status=Status.CRASH,
                          error={"type": "", "message": f"unknown status {status!r}: {error_text(record)}"})
        same = self._same
        fmt, estimator = same(record.get("format")), same(record.get("estimator"))
        self.formats.setdefault(fmt)
        self.estimators.setdefault(estimator, record.get("family") or "")
        known = record.get("known") if isinstance(record.get("known"), dict) else None
        if known:
            known = same((first_line(known.get("reason")) or "known incompatibility", known.get("link")))
        before, was = None, UNCOMPARED
        if self.previous is not None and not producer_na:
            ident = cell_id(record)
            before = self.previous.before.get(ident)
            was = NEW if before is None else before[0]
            if before is not None:
                self.matched.add(ident)
        max_abs, max_rel = diff_of(record)
        row = Row(
            same(record.get("producer")), same(record.get("consumer")), fmt, estimator, record["status"],
            max_abs, max_rel, same(tuple(warnings_of(record))), error_text(record), same(calls_text(record)),
            known, same(since_of(record, before, self.generated, self.previous and self.previous.generated)), was)
        self.rows.append(row)
        return row

    def state(self):
        """All but the rows, as JSON values (the merge keeps a block's with the block)."""
        return {"ids": list(self.ids), "estimators": list(self.estimators.items()), "formats": list(self.formats),
                "canaries": self.canaries, "causes": self.causes.state(), "twins": self.twins.state(),
                **{name: getattr(self, name) for name in self.COUNTERS}}

    def absorb(self, other, state):
        """Take the cells of another pass (a block's, coming after this one's cells; state: its state())."""
        self.rows.extend(other.rows)
        self.matched |= other.matched
        self.absorb_state(state)

    def absorb_state(self, state):
        """Take the tallies of a block's pass (its state()) without its rows."""
        for env_id in state["ids"]:
            self.ids.setdefault(env_id)
        for name, family in state["estimators"]:
            self.estimators.setdefault(self._same(name), family)
        for fmt in state["formats"]:
            self.formats.setdefault(self._same(fmt))
        self.canaries.extend(state["canaries"])
        self.causes.absorb(state["causes"])
        self.twins.absorb(state["twins"])
        for name in self.COUNTERS:
            setattr(self, name, getattr(self, name) + state[name])

    def add_kept(self, rows, state):
        """Take a block kept whole from the last merge: its rows (their was: the cell's status then,
        which is its status now) and its tallies."""
        same = self._same
        for (producer, consumer, fmt, estimator, status, max_abs, max_rel, warns, error, calls, known, since,
             was) in rows:
            self.rows.append(Row(same(producer), same(consumer), same(fmt), same(estimator), same(status), max_abs,
                                 max_rel, same(warns), error, same(calls), same(known), same(since), same(was)))
        self.absorb_state(dict(state, matched_kept=state["matched_kept"] + len(rows)))

    @property
    def gone(self):
        """Cells of the previous run that this one does not have."""
        return len(self.previous.before) - len(self.matched) - self.matched_kept if self.previous is not None else 0

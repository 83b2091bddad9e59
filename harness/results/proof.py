"""Whether a run proved it can fail: its canaries came out as expected and its diagonal
controls (each environment loading its own artifacts) passed."""

from . import canaries
from ..inside.schema import Status

# A control passes when its predictions are the producer's own: warnings alone do not fail it.
CONTROL_PASSES = (Status.IDENTICAL, Status.CLOSE, Status.WARNING, Status.NOT_APPLICABLE)
# Diagonal cells that test no judgement: the trust policy refused the file before any load (a
# skops file that needs a callable), or the estimator has no output to compare. Counted, not failed.
NOT_CONTROLS = (Status.REFUSED, Status.UNCOMPARED)
PENDING = "pending"
MAX_LISTED = 50


def _where(record):
    return {k: record.get(k) for k in ("producer", "consumer", "estimator", "format", "status")}


class Tally:
    """The canaries and diagonal controls of cells added one at a time."""

    def __init__(self):
        self.canary_total = self.canary_done = self.control_total = self.control_done = self.cells = 0
        self.failed_canaries, self.failed_controls, self.not_controls = [], [], {}

    def add(self, record):
        """Count one cell."""
        self.cells += 1
        if record.get("canary"):
            self.canary_total += 1
            problem = canaries.verdict(record)
            if record.get("status") != PENDING:
                self.canary_done += 1
                if problem:
                    self.failed_canaries.append(dict(_where(record), problem=problem))
        elif record.get("producer") == record.get("consumer") and record.get("format") != "onnx":
            # ONNX computes in float32 by design: its diagonal is no control.
            if record.get("status") in NOT_CONTROLS:
                self.not_controls[record["status"]] = self.not_controls.get(record["status"], 0) + 1
                return
            self.control_total += 1
            if record.get("status") != PENDING:
                self.control_done += 1
                if record.get("status") not in CONTROL_PASSES:
                    error = record.get("error") if isinstance(record.get("error"), dict) else {}
                    self.failed_controls.append(dict(_where(record), problem=str(error.get("message") or "")[:200]))

    STATE = ("canary_total", "canary_done", "control_total", "control_done", "cells", "failed_canaries",
             "failed_controls", "not_controls")

    def state(self):
        """The tally as JSON values (the merge keeps a block's with the block)."""
        return {name: getattr(self, name) for name in self.STATE}

    def absorb(self, state):
        """Add another tally's state (of cells that come after this one's)."""
        for name in self.STATE[:5]:
            setattr(self, name, getattr(self, name) + state[name])
        self.failed_canaries += state["failed_canaries"]
        self.failed_controls += state["failed_controls"]
        for status, count in state["not_controls"].items():
            self.not_controls[status] = self.not_controls.get(status, 0) + count

    def result(self):
        """{"ok", "canaries": {total, computed, failed: [...]}, "controls": {...}, "problems": [...]}."""
        problems = []
        if self.failed_canaries:
            problems.append(f"{len(self.failed_canaries)} of {self.canary_done} canaries did not come out as expected")
        if self.failed_controls:
            problems.append(f"{len(self.failed_controls)} of {self.control_done} diagonal controls failed")
        if self.canary_total and not self.canary_done:
            problems.append("no canary was computed")
        if not self.canary_total and self.cells:
            problems.append("this run has no canary: no producer loads its own dump with a pickle in it")
        return {"ok": not problems, "problems": problems,
                "canaries": {"total": self.canary_total, "computed": self.canary_done,
                             "failed": self.failed_canaries[:MAX_LISTED]},
                "controls": {"total": self.control_total, "computed": self.control_done,
                             "failed": self.failed_controls[:MAX_LISTED], "failed_count": len(self.failed_controls),
                             "not_controls": self.not_controls}}


def check(cells):
    """Tally.result of cells."""
    tally = Tally()
    for record in cells:
        tally.add(record)
    return tally.result()

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


def check(cells):
    """{"ok", "canaries": {total, computed, failed: [...]}, "controls": {...}, "problems": [...]}."""
    canary_total = canary_done = control_total = control_done = 0
    failed_canaries, failed_controls, not_controls = [], [], {}
    for record in cells:
        if record.get("canary"):
            canary_total += 1
            problem = canaries.verdict(record)
            if record.get("status") != PENDING:
                canary_done += 1
                if problem:
                    failed_canaries.append(dict(_where(record), problem=problem))
        elif record.get("producer") == record.get("consumer") and record.get("format") != "onnx":
            # ONNX computes in float32 by design: its diagonal is no control.
            if record.get("status") in NOT_CONTROLS:
                not_controls[record["status"]] = not_controls.get(record["status"], 0) + 1
                continue
            control_total += 1
            if record.get("status") != PENDING:
                control_done += 1
                if record.get("status") not in CONTROL_PASSES:
                    error = record.get("error") if isinstance(record.get("error"), dict) else {}
                    failed_controls.append(dict(_where(record), problem=str(error.get("message") or "")[:200]))
    problems = []
    if failed_canaries:
        problems.append(f"{len(failed_canaries)} of {canary_done} canaries did not come out as expected")
    if failed_controls:
        problems.append(f"{len(failed_controls)} of {control_done} diagonal controls failed")
    if canary_total and not canary_done:
        problems.append("no canary was computed")
    if not canary_total and cells:
        problems.append("this run has no canary: no producer loads its own dump with a pickle in it")
    return {"ok": not problems, "problems": problems,
            "canaries": {"total": canary_total, "computed": canary_done, "failed": failed_canaries[:MAX_LISTED]},
            "controls": {"total": control_total, "computed": control_done, "failed": failed_controls[:MAX_LISTED],
                         "failed_count": len(failed_controls), "not_controls": not_controls}}

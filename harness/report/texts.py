"""The short texts the report shows of a cell: its error, its calls, its warnings, its
differences; and the order of the statuses."""

import math
import re
import sys
from functools import lru_cache

from ..inside.schema import Status

PENDING = "pending"
STATUSES = Status.ORDER + (PENDING,)
RANK = {s: i for i, s in enumerate(STATUSES)}
OK = (Status.IDENTICAL, Status.CLOSE, Status.WARNING)
BAD = (Status.MISMATCH, Status.PREDICT_ERROR, Status.LOAD_ERROR, Status.REFUSED, Status.CRASH, Status.TIMEOUT)
TEXT_LIMIT = 300          # characters of an error or warning shown in the page (the results file has it all)
_FROM_VERSION = re.compile(r"from version (\S+?)\.? when")


def first_line(text, limit=TEXT_LIMIT):
    """The first non-empty line of a text, cut to limit characters."""
    for line in str(text or "").splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= limit else line[:limit - 1] + "\u2026"
    return ""


def error_text(record):
    """'Type: first line of the message' of a cell's error, else of its first failing method, or ''."""
    err = record.get("error")
    if not err:
        methods = record.get("methods")
        for name, method in (methods.items() if isinstance(methods, dict) else ()):
            if isinstance(method, dict) and method.get("status") in ("error", "missing", "mismatch"):
                return _error_line(f"{name} {method['status']}", str(method.get("detail") or ""))
        return ""
    if isinstance(err, dict):
        return _error_line(str(err.get("type") or ""), str(err.get("message") or ""))
    return _error_line("", str(err))


@lru_cache(maxsize=65536)
def _error_line(kind, message):
    line = first_line(message)
    return first_line(f"{kind}: {line}" if kind and line else kind or line)


MAX_CALL_LINES = 12


def state_lines(record):
    """The fitted-state difference of a cell (producer after fitting, consumer after loading) as lines."""
    diff = record.get("state") if isinstance(record.get("state"), dict) else {}
    counts = diff.get("counts") if isinstance(diff.get("counts"), dict) else {}
    out = []
    for kind in ("missing", "added"):
        names = [str(n) for n in diff.get(kind) or () if isinstance(n, str)]
        if names:
            out.append(first_line(f"state: {counts.get(kind, len(names))} {kind} ({', '.join(names[:6])})"))
    changed = [c for c in diff.get("changed") or () if isinstance(c, list) and len(c) == 2]
    if changed:
        out.append(first_line(f"state: {counts.get('changed', len(changed))} changed ("
                              + ", ".join(f"{c[0]}: {c[1]}" for c in changed[:6]) + ")"))
    return out


def calls_text(record):
    """A cell's calls for the page: first line "method=letters,..." (a letter per input of
    schema.INPUTS), then one line per type change and per call that is not identical."""
    grid = record.get("grid") if isinstance(record.get("grid"), dict) else {}
    head = ",".join(f"{m}={v}" for m, v in grid.items()
                    if isinstance(m, str) and isinstance(v, str) and m.isidentifier() and len(v) <= 12)
    lines = [f"type change {first_line(t)}" for t in (record.get("type_changes") or ())[:4] if isinstance(t, str)]
    lines += state_lines(record)
    refit = record.get("refit") if isinstance(record.get("refit"), dict) else None
    if refit and isinstance(refit.get("status"), str):
        how = "predicts like" if refit["status"] in (Status.IDENTICAL, Status.CLOSE) else "differs from"
        lines.append(first_line(f"refit here: the loaded model {how} this consumer's own fit ({refit['status']})"))
    cv = record.get("cv") if isinstance(record.get("cv"), dict) else None
    if cv and isinstance(cv.get("producer"), list) and len(cv["producer"]) == 2:
        lines.append(first_line(f"cross-validation here {cv.get('consumer')} "
                                f"{'within' if cv.get('in_range') else 'outside'} the producer's folds "
                                f"{cv['producer'][0]}..{cv['producer'][1]}"))
    methods = record.get("methods") if isinstance(record.get("methods"), dict) else {}
    for call, rec in methods.items():
        if isinstance(rec, dict) and rec.get("status") not in ("identical", None) and len(lines) < MAX_CALL_LINES:
            lines.append(first_line(f"{call}: {rec.get('status')}" + (f": {rec['detail']}" if rec.get("detail") else "")))
    return "\n".join([head] + lines) if head or lines else ""


def warnings_of(record):
    """[(category, message, original_version)] of a cell's warning records."""
    out = []
    for item in record.get("warnings") or ():
        if isinstance(item, dict):  # results.json.gz comes from anywhere: anything else is skipped
            version = item.get("original_version")
            out.append(_warning(str(item.get("category") or "Warning"), str(item.get("message") or ""),
                                None if version is None else str(version)))
    return out


@lru_cache(maxsize=65536)
def _warning(category, message, version):
    if version is None:  # the record's own when the warning had one; else the message may say it
        found = _FROM_VERSION.search(message)
        version = found.group(1) if found else ""
    text = " ".join(message.split())
    return (first_line(category, 80), text if len(text) <= TEXT_LIMIT else text[:TEXT_LIMIT - 1] + "\u2026",
            first_line(version, 40))


def _number(value):
    """A finite float for the page: JSON has no Infinity/NaN, so an infinite relative difference
    (the producer said 0) becomes the largest float and NaN becomes None."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
        return None
    return float(value) if math.isfinite(value) else math.copysign(sys.float_info.max, value)


def diff_of(record):
    """(max_abs, max_rel) of a cell, None when it was not measured."""
    return _number(record.get("max_abs")), _number(record.get("max_rel"))


def predictions_of(max_abs):
    """For a cell with warnings: were the predictions identical or only close?"""
    return Status.CLOSE if max_abs else Status.IDENTICAL


def compact(value):
    """A float with three significant digits: enough to read, small to embed."""
    return None if value is None else float(f"{value:.3g}")

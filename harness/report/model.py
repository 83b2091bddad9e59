"""The report's view model: everything index.html and summary.md show, computed from results.json.gz.

The cells are results/record.CellResult records; report/columns.py says which of their fields each
column of the page's data shows.
"""

import math
import sys
import re
from functools import lru_cache
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from ..results import canaries, causes, file as results_file
from . import cross_arch
from .columns import PAGE_DATA_VERSION, ROW_COLUMNS
from ..config.env_ids import parse_id
from ..core.platforms import word_text
from ..core.versions import version_key
from ..core.errors import ResultsSchemaError
from ..inside.schema import FAMILIES, INPUTS, Status
from ..results.file import RESULTS_SCHEMA
from ..core.untrusted import UntrustedInput

PENDING = "pending"
STATUSES = Status.ORDER + (PENDING,)
RANK = {s: i for i, s in enumerate(STATUSES)}
OK = (Status.IDENTICAL, Status.CLOSE, Status.WARNING)
BAD = (Status.MISMATCH, Status.PREDICT_ERROR, Status.LOAD_ERROR, Status.REFUSED, Status.CRASH, Status.TIMEOUT)
TEXT_LIMIT = 300          # characters of an error or warning shown in the page (the results file has it all)
LIST_LIMIT = 200          # rows of a server-side list before "and N more"
_FROM_VERSION = re.compile(r"from version (\S+?)\.? when")


def load_results(path, what="results"):
    """Read a results file and refuse any other schema number with the command that fixes it."""
    path = Path(path)
    try:
        data = results_file.read(path)  # a previous run's file may come from anywhere
    except FileNotFoundError:
        raise ResultsSchemaError(f"{path} does not exist", hint="run `python -m harness report` after a load")
    except UntrustedInput as exc:
        raise ResultsSchemaError(f"{what} at {path} cannot be read: {exc}",
                                 hint="move it away, then run `python -m harness report` again") from None
    found = results_file.other_schema(data)
    if found:
        raise ResultsSchemaError(
            f"{what} at {path} has {found}, this harness reads schema {RESULTS_SCHEMA}",
            hint="rerun `python -m harness report` (or `python -m harness run`) with this harness to rewrite it")
    return data


def worst(statuses):
    """The worst status where a failure beats pending and pending beats every other
    outcome: a cell not computed never reads as surviving."""
    real = [s for s in statuses if s not in (Status.NOT_APPLICABLE, PENDING)]
    bad = [s for s in real if s in BAD]
    if bad:
        return max(bad, key=RANK.__getitem__)
    if PENDING in statuses:
        return PENDING
    return max(real, key=RANK.__getitem__) if real else Status.NOT_APPLICABLE


def env_key(env):
    """Group order of the axes: word (size and byte order), then scikit-learn, Python, numpy and
    architecture: 32-bit and big-endian environments stand apart from the 64-bit little-endian ones."""
    return (word_order(env.get("arch", "")), version_key(env.get("sklearn", "")), version_key(env.get("python", "")),
            version_key(env.get("numpy", "")), str(env.get("arch", "")), env["id"])


def word_order(arch):
    """64-bit little-endian first (most environments), then the others by name."""
    text = word_text(arch)
    return (text != "64-bit little-endian", text)


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


def cell_id(record):
    """What identifies a cell across runs (its key hashes image tags, which change)."""
    return (record.get("producer"), record.get("consumer"), record.get("estimator"), record.get("format"))


def classify(before, now):
    """'breakage', 'fix', 'still' (failing both times) or None between two statuses."""
    if before in OK and now in BAD:
        return "breakage"
    if before in BAD and now in OK:
        return "fix"
    if before in BAD and now in BAD:
        return "still"
    return None


def since_of(record, before, generated, previous_generated):
    """When a failing cell first failed: its own field, the previous run's, or this run."""
    if record.get("status") not in BAD:
        return None
    if record.get("since"):
        return record["since"]
    if before is not None and before.get("status") in BAD:
        return before.get("since") or previous_generated
    return generated if before is not None else None


def carry_since(results, previous):
    """Add "since" to every failing cell of results (in place) from the previous run; merge may call it."""
    before = {cell_id(c): c for c in (previous or {}).get("cells", [])}
    for record in results.get("cells", []):
        since = since_of(record, before.get(cell_id(record)), results.get("generated"),
                         (previous or {}).get("generated"))
        if since:
            record["since"] = since
        else:
            record.pop("since", None)
    return results


def safe_link(url):
    """Only http(s) links become hrefs: a javascript: URL in matrix.toml stays text."""
    url = str(url or "")
    return url if re.match(r"^https?://", url, re.IGNORECASE) else ""


def repro_command(matrix, consumer, producer, estimator, fmt):
    """The command that recomputes one cell."""
    only = f"{producer}/{estimator}/{fmt}".replace("'", "'\"'\"'")
    return f"python -m harness load --matrix {matrix} {consumer} --only '{only}'"


class _Table:
    """A string table: each distinct value once, referenced by index + 1 (0 = none)."""

    def __init__(self):
        self.values, self.index = [], {}

    def ref(self, value):
        if value in (None, "", ()):
            return 0
        found = self.index.get(value)
        if found is None:
            found = self.index[value] = len(self.values) + 1
            self.values.append(value)
        return found


@dataclass
class Model:
    """What the template and summary.md render."""

    results: dict
    envs: list
    formats: list
    totals: Counter
    by_format: dict
    data: dict
    failed_builds: list = field(default_factory=list)
    failed_dumps: list = field(default_factory=list)
    producer_na: list = field(default_factory=list)
    known: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    changes: dict = field(default_factory=dict)
    previous_generated: str = ""
    canaries: list = field(default_factory=list)
    proof: dict = field(default_factory=dict)
    causes: list = field(default_factory=list)
    cross_arch: list = field(default_factory=list)  # cross_arch.pairs: same versions, other architecture

    @property
    def cells(self):
        """Number of load cells (producer-side n/a included)."""
        return sum(self.totals.values())


def _envs(results):
    """Environment records sorted by the axes, with ids the cells mention but the list lacks."""
    envs = {e["id"]: dict(e) for e in results.get("environments", [])}
    for cell in results.get("cells", []) + results.get("producer_na", []):
        for env_id in (cell.get("producer"), cell.get("consumer")):
            if env_id and env_id not in envs:
                found = parse_id(env_id)
                axes = ({k: found[k] for k in ("sklearn", "python", "numpy", "arch")} if found
                        else {"sklearn": env_id, "python": "?", "numpy": "?", "arch": "?"})
                envs[env_id] = {"id": env_id, **axes, "build": None, "dump": None}
    out = sorted(envs.values(), key=env_key)
    for env in out:
        build, dump = env.get("build") or {}, env.get("dump") or {}
        if env.get("build") is None:
            env["state"], env["problem"] = "unbuilt", "not built in this run"
        elif not build.get("ok"):
            env["state"], env["problem"] = "build", first_line(build.get("error")) or "build failed"
        elif env.get("dump") is not None and not dump.get("ok"):
            env["state"], env["problem"] = "dump", first_line(dump.get("error")) or "dump failed"
        else:
            env["state"], env["problem"] = "ok", ""
    return out


def _rows(results, envs):
    """Every row the page shows, sorted by producer, consumer, format: cells plus producer-side n/a."""
    consumers = [e["id"] for e in envs if e["state"] in ("ok", "dump")]
    rows = [c for c in results.get("cells", []) if not c.get("canary")]  # canaries have a table of their own
    for na in results.get("producer_na", []):
        reason = first_line(na.get("reason")) or "the producer could not write this format"
        error = f"producer could not write it ({na.get('status') or 'n/a'}): {reason}"
        for consumer in consumers:
            rows.append({"producer": na.get("producer"), "consumer": consumer, "estimator": na.get("estimator"),
                         "format": na.get("format"), "family": na.get("family", ""),
                         "status": Status.NOT_APPLICABLE, "error": {"type": "", "message": error},
                         "producer_na": True})
    return rows


def _canary_rows(results):
    """The canaries, each with its expected and its actual outcome."""
    rows = []
    for c in results.get("cells", []):
        if isinstance(c.get("canary"), dict):
            expected = c["canary"]
            rows.append({"producer": c.get("producer"), "estimator": c.get("estimator"), "status": c.get("status"),
                         "expected": str(expected.get("status")) + (" with a type change" if expected.get("type_change") else ""),
                         "problem": canaries.verdict(c), "error": error_text(c)})
    return rows


def build(results, previous=None):
    """The view model of one results file, compared with an optional previous one."""
    envs = _envs(results)
    env_index = {e["id"]: i for i, e in enumerate(envs)}
    formats = list(results.get("formats") or [])
    estimators = {}
    rows = _rows(results, envs)
    for row in rows:
        if row.get("format") not in formats:
            formats.append(row.get("format"))
        estimators.setdefault(row.get("estimator"), row.get("family") or "")
    family_order = {f: i for i, f in enumerate(FAMILIES)}
    fams = sorted({f for f in estimators.values()}, key=lambda f: (family_order.get(f, len(family_order)), f))
    fam_index = {f: i for i, f in enumerate(fams)}
    est_names = list(estimators)
    est_index = {name: i for i, name in enumerate(est_names)}
    fmt_index = {f: i for i, f in enumerate(formats)}
    before = {cell_id(c): c for c in (previous or {}).get("cells", [])}
    generated, prev_generated = results.get("generated", ""), (previous or {}).get("generated", "")
    matrix = results.get("matrix", "default")

    strings, wsets, knowns = _Table(), _Table(), _Table()
    keyed = []
    for row in rows:
        keyed.append((env_index[row["producer"]], env_index[row["consumer"]], fmt_index[row["format"]],
                      est_index[row["estimator"]], row))
    keyed.sort(key=lambda item: item[:4])

    # s, ch and wc are built apart: a string of letters each, and a list of rows.
    col = {c.key: [] for c in ROW_COLUMNS if c.key not in ("s", "ch", "wc")}
    status_chars, change_chars, close_warnings = [], [], []
    groups = {"p": [], "c": [], "f": [], "s": []}
    totals, by_format = Counter(), {f: Counter() for f in formats}
    warn_stats = defaultdict(Counter)          # (category, producer sklearn, consumer sklearn) -> outcome
    changes = {"breakage": [], "fix": [], "still": [], "other": 0, "new": 0, "gone": 0}
    known_counts = Counter()
    seen, wcache = set(), {}
    last = None
    for i, (p, c, f, e, row) in enumerate(keyed):
        if (p, c, f) != last:
            last = (p, c, f)
            groups["p"].append(p), groups["c"].append(c), groups["f"].append(f), groups["s"].append(i)
        status = row.get("status")
        if status not in RANK:
            row = dict(row, status=Status.CRASH,
                       error={"type": "", "message": f"unknown status {status!r}: {error_text(row)}"})
            status = Status.CRASH
        totals[status] += 1
        by_format[row["format"]][status] += 1
        max_abs, max_rel = diff_of(row)
        warns = warnings_of(row)
        status_chars.append(chr(97 + RANK[status]))
        col["e"].append(e)
        col["a"].append(compact(max_abs))
        col["q"].append(compact(max_rel))
        wkey = tuple(warns)
        wref = wcache.get(wkey)
        if wref is None:
            wref = wcache[wkey] = wsets.ref(tuple(x for w in warns for x in map(strings.ref, w)))
        col["w"].append(wref)
        col["x"].append(strings.ref(error_text(row)))
        col["m"].append(strings.ref(calls_text(row)))
        known = row.get("known") if isinstance(row.get("known"), dict) else None
        if known:
            reason = first_line(known.get("reason")) or "known incompatibility"
            known_counts[reason] += 1
            col["k"].append(knowns.ref((strings.ref(reason), strings.ref(safe_link(known.get("link"))))))
        else:
            col["k"].append(0)
        ident = cell_id(row)
        prev = before.get(ident) if not row.get("producer_na") else None
        col["n"].append(strings.ref(since_of(row, prev, generated, prev_generated)))
        kind = None
        if previous is not None and not row.get("producer_na"):
            seen.add(ident)
            if prev is None:
                changes["new"] += 1
            else:
                kind = classify(prev.get("status"), status)
                if kind:
                    changes[kind].append((p, c, f, e, prev.get("status"), status, i))
                elif prev.get("status") != status:
                    changes["other"] += 1
        change_chars.append({"breakage": "b", "fix": "f", "still": "s"}.get(kind, "."))
        if status == Status.WARNING and predictions_of(max_abs) == Status.CLOSE:
            close_warnings.append(i)
        if warns:
            outcome = (f"warning, predictions {predictions_of(max_abs)}" if status == Status.WARNING
                       else status)
            for category in {w[0] for w in warns}:
                warn_stats[(category, envs[p]["sklearn"], envs[c]["sklearn"])][outcome] += 1
    if previous is not None:
        changes["gone"] = sum(1 for ident in before if ident not in seen)
    groups["s"].append(len(keyed))

    env_rows = [[e["id"], str(e.get("sklearn")), str(e.get("python")), str(e.get("numpy")), str(e.get("arch")),
                 e["state"], e["problem"], word_text(e.get("arch"))] for e in envs]
    data = {
        "v": PAGE_DATA_VERSION, "inputs": list(INPUTS), "matrix": matrix, "generated": generated, "previous": prev_generated,
        "statuses": list(STATUSES), "formats": formats, "envs": env_rows, "fams": fams, "est": est_names,
        "estFam": [fam_index[estimators[n]] for n in est_names], "S": strings.values,
        "W": [list(w) for w in wsets.values], "K": [list(k) for k in knowns.values], "g": groups,
        "r": dict(col, s="".join(status_chars), ch="".join(change_chars) if previous is not None else "",
                  wc=close_warnings),
    }
    model = Model(results=results, envs=envs, formats=formats, totals=totals, by_format=by_format, data=data,
                  previous_generated=prev_generated)
    model.failed_builds = [e for e in envs if e["state"] == "build"]
    model.failed_dumps = [e for e in envs if e["state"] == "dump"]
    model.producer_na = _group_na(results.get("producer_na", []))
    model.known = [dict(k, link=safe_link(k.get("link")),
                        cells=k["cells"] if isinstance(k.get("cells"), int) else known_counts.get(first_line(k.get("reason")), 0))
                   for k in results.get("known", [])]
    model.canaries = _canary_rows(results)
    model.causes = causes.group((r for r in rows if not r.get("producer_na")),
                                {e["id"]: str(e.get("sklearn")) for e in envs})
    model.cross_arch = cross_arch.pairs(results.get("cells", []))
    model.proof = results.get("proof") if isinstance(results.get("proof"), dict) else {}
    model.warnings = _warning_rows(warn_stats)
    model.changes = _change_rows(changes, envs, formats, est_names, matrix) if previous is not None else {}
    return model


def _group_na(producer_na):
    """Producer-side n/a grouped by format, estimator and reason, with the producers concerned."""
    grouped = defaultdict(list)
    for na in producer_na:
        grouped[(na.get("format", ""), na.get("estimator", ""), na.get("status") or "n/a",
                 first_line(na.get("reason")))].append(na.get("producer", ""))
    return [{"format": k[0], "estimator": k[1], "status": k[2], "reason": k[3], "producers": v}
            for k, v in sorted(grouped.items())]


def _warning_rows(stats):
    """One row per warning category and scikit-learn upgrade: is it safe to ignore?"""
    out = []
    for (category, old, new), counts in sorted(stats.items(), key=lambda kv: (kv[0][0], version_key(kv[0][1]),
                                                                               version_key(kv[0][2]))):
        total = sum(counts.values())
        safe = counts.get("warning, predictions identical", 0) + counts.get("warning, predictions close", 0)
        if safe == total:
            verdict = "predictions identical" if safe == counts.get("warning, predictions identical", 0) \
                else "predictions identical or within tolerance"
        else:
            verdict = "not always safe: some cells with it fail"
        out.append({"category": category, "producer": old, "consumer": new, "total": total,
                    "identical": counts.get("warning, predictions identical", 0),
                    "close": counts.get("warning, predictions close", 0), "worse": total - safe,
                    "worse_by": sorted(((s, n) for s, n in counts.items() if not s.startswith("warning")),
                                       key=lambda sn: RANK.get(sn[0], 0)),
                    "safe": safe == total, "verdict": verdict})
    return out


def _change_rows(changes, envs, formats, est_names, matrix):
    """New breakages, fixes and still-failing cells, grouped by producer, consumer and format."""
    out = {"counts": {k: (len(v) if isinstance(v, list) else v) for k, v in changes.items()}}
    for kind in ("breakage", "fix", "still"):
        grouped = defaultdict(list)
        for p, c, f, e, was, now, _ in changes[kind]:
            grouped[(p, c, f)].append((est_names[e], was, now))
        rows = []
        for (p, c, f), items in sorted(grouped.items(), key=lambda kv: -len(kv[1])):
            rows.append({"producer": envs[p]["id"], "consumer": envs[c]["id"], "format": formats[f],
                         "count": len(items), "estimators": [name for name, _, _ in items[:8]],
                         "more": max(0, len(items) - 8),
                         "transitions": Counter(f"{was} \u2192 {now}" for _, was, now in items).most_common(3)})
        out[kind] = rows[:LIST_LIMIT]
        out[kind + "_more"] = max(0, len(rows) - LIST_LIMIT)
        out[kind + "_cells"] = [
            {"producer": envs[p]["id"], "consumer": envs[c]["id"], "format": formats[f], "estimator": est_names[e],
             "was": was, "now": now,
             "command": repro_command(matrix, envs[c]["id"], envs[p]["id"], est_names[e], formats[f])}
            for p, c, f, e, was, now, _ in changes[kind][:50]]
    return out

"""The report's view model: everything index.html and summary.md show, computed from results.json.gz.

The cells are results/record.CellResult records; report/columns.py says which of their fields each
column of the page's data shows.
"""

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from ..results import file as results_file
from .columns import BUILT_APART, PAGE_DATA_VERSION, ROW_COLUMNS, SPARSE, sparse
from .rows import NEW, UNCOMPARED, Pass, Previous, classify, previous_of
from .texts import BAD, PENDING, RANK, STATUSES, compact, first_line, predictions_of
from ..config.env_ids import parse_id
from ..core.platforms import word_text
from ..core.versions import version_key
from ..core.errors import ResultsSchemaError
from ..inside.schema import FAMILIES, INPUTS, Status
from ..results.file import RESULTS_SCHEMA
from ..core.untrusted import UntrustedInput

LIST_LIMIT = 200          # rows of a server-side list before "and N more"


def open_results(path, what="results"):
    """(header, cells iterator) of a results file, any other schema refused with the command
    that fixes it; the iterator raises ResultsSchemaError for a cell it cannot read."""
    path = Path(path)
    try:
        header, cells = results_file.open_results(path)  # a previous run's file may come from anywhere
    except FileNotFoundError:
        raise ResultsSchemaError(f"{path} does not exist", hint="run `python -m harness report` after a load")
    except UntrustedInput as exc:
        raise _unreadable(path, what, exc) from None
    found = results_file.other_schema(header)
    if found:
        raise ResultsSchemaError(
            f"{what} at {path} has {found}, this harness reads schema {RESULTS_SCHEMA}",
            hint="rerun `python -m harness report` (or `python -m harness run`) with this harness to rewrite it")
    return header, _checked(cells, path, what)


def _unreadable(path, what, exc):
    return ResultsSchemaError(f"{what} at {path} cannot be read: {exc}",
                              hint="move it away, then run `python -m harness report` again")


def _checked(cells, path, what):
    try:
        yield from cells
    except UntrustedInput as exc:
        raise _unreadable(path, what, exc) from None


def load_results(path, what="results"):
    """A results file read whole (header and cells), as open_results checks it."""
    header, cells = open_results(path, what)
    return dict(header, cells=list(cells))


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
    typed: int = 0                # cells with a type_changes field
    type_changed: int = 0         # cells that return another output type than their producer
    refits: int = 0               # cells with a refit in their consumer
    refits_differ: int = 0        # of which predict unlike the loaded artifact

    @property
    def cells(self):
        """Number of load cells (producer-side n/a included)."""
        return sum(self.totals.values())


def _envs(results, ids):
    """Environment records sorted by the axes, with ids the cells (or the producer-side n/a)
    mention but the list lacks."""
    envs = {e["id"]: dict(e) for e in results.get("environments", [])}
    mentioned = list(ids) + [na.get(k) for na in results.get("producer_na", []) for k in ("producer", "consumer")]
    for env_id in mentioned:
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


def build(results, previous=None):
    """The view model of one results file, compared with an optional previous one. results is
    a header with its "cells" (a list, or an iterator read once); previous the previous run's
    results (the same) or a Previous."""
    header = {k: v for k, v in results.items() if k != "cells"}
    if previous is not None and not isinstance(previous, Previous):
        previous = previous_of(previous)
    seen = Pass(header.get("generated", ""), previous)
    for record in results.get("cells") or ():
        seen.add(record)
    return finish(header, seen)


def finish(header, seen):
    """The view model of a results header and the Pass that took its cells (the merge makes one
    as it writes them, so that the report need not read them again)."""
    previous = seen.previous
    generated, prev_generated = header.get("generated", ""), previous.generated if previous else ""
    envs = _envs(header, seen.ids)
    consumers = [e["id"] for e in envs if e["state"] in ("ok", "dump")]
    for na in header.get("producer_na", []):
        seen.add_na(na, consumers)
    env_index = {e["id"]: i for i, e in enumerate(envs)}
    formats = list(header.get("formats") or [])
    formats += [f for f in seen.formats if f not in formats]
    family_order = {f: i for i, f in enumerate(FAMILIES)}
    fams = sorted(set(seen.estimators.values()), key=lambda f: (family_order.get(f, len(family_order)), f))
    fam_index = {f: i for i, f in enumerate(fams)}
    est_names = list(seen.estimators)
    est_index = {name: i for i, name in enumerate(est_names)}
    fmt_index = {f: i for i, f in enumerate(formats)}
    matrix = header.get("matrix", "default")
    rows = seen.rows
    # Sorted by producer, consumer, format and estimator; the sort is stable, so ties keep the file's order.
    order = sorted(range(len(rows)), key=lambda i: (env_index[rows[i].producer], env_index[rows[i].consumer],
                                                     fmt_index[rows[i].format], est_index[rows[i].estimator]))

    strings, wsets, knowns = _Table(), _Table(), _Table()
    col = {c.key: [] for c in ROW_COLUMNS if c.key not in BUILT_APART}
    status_chars, change_chars, close_warnings = [], [], []
    groups = {"p": [], "c": [], "f": [], "s": []}
    totals, by_format = Counter(), {f: Counter() for f in formats}
    warn_stats = defaultdict(Counter)          # (category, producer sklearn, consumer sklearn) -> outcome
    changes = {"breakage": [], "fix": [], "still": [], "other": 0, "new": 0, "gone": seen.gone}
    known_counts = Counter()
    wcache = {}
    last = None
    for i, row in enumerate(rows[j] for j in order):
        p, c, f, e = env_index[row.producer], env_index[row.consumer], fmt_index[row.format], est_index[row.estimator]
        if (p, c, f) != last:
            last = (p, c, f)
            groups["p"].append(p), groups["c"].append(c), groups["f"].append(f), groups["s"].append(i)
        status = row.status
        totals[status] += 1
        by_format[row.format][status] += 1
        status_chars.append(chr(97 + RANK[status]))
        col["e"].append(e)
        col["a"].append(compact(row.max_abs))
        col["q"].append(compact(row.max_rel))
        wref = wcache.get(row.warns)
        if wref is None:
            wref = wcache[row.warns] = wsets.ref(tuple(x for w in row.warns for x in map(strings.ref, w)))
        col["w"].append(wref)
        col["x"].append(strings.ref(row.error))
        col["m"].append(strings.ref(row.calls))
        if row.known:
            reason, link = row.known
            known_counts[reason] += 1
            col["k"].append(knowns.ref((strings.ref(reason), strings.ref(safe_link(link)))))
        else:
            col["k"].append(0)
        col["n"].append(strings.ref(row.since))
        kind = None
        if row.was is NEW:
            changes["new"] += 1
        elif row.was is not UNCOMPARED:
            kind = classify(row.was, status)
            if kind:
                changes[kind].append((p, c, f, e, row.was, status, i))
            elif row.was != status:
                changes["other"] += 1
        change_chars.append({"breakage": "b", "fix": "f", "still": "s"}.get(kind, "."))
        if status == Status.WARNING and predictions_of(row.max_abs) == Status.CLOSE:
            close_warnings.append(i)
        if row.warns:
            outcome = (f"warning, predictions {predictions_of(row.max_abs)}" if status == Status.WARNING
                       else status)
            for category in {w[0] for w in row.warns}:
                warn_stats[(category, envs[p]["sklearn"], envs[c]["sklearn"])][outcome] += 1
    groups["s"].append(len(rows))

    env_rows = [[e["id"], str(e.get("sklearn")), str(e.get("python")), str(e.get("numpy")), str(e.get("arch")),
                 e["state"], e["problem"], word_text(e.get("arch"))] for e in envs]
    data = {
        "v": PAGE_DATA_VERSION, "inputs": list(INPUTS), "matrix": matrix, "generated": generated, "previous": prev_generated,
        "statuses": list(STATUSES), "formats": formats, "envs": env_rows, "fams": fams, "est": est_names,
        "estFam": [fam_index[seen.estimators[n]] for n in est_names], "S": strings.values,
        "W": [list(w) for w in wsets.values], "K": [list(k) for k in knowns.values], "g": groups,
        "r": dict({k: sparse(v) if k in SPARSE else v for k, v in col.items()}, s="".join(status_chars),
                  ch="".join(change_chars) if previous is not None else "", wc=close_warnings),
    }
    model = Model(results=header, envs=envs, formats=formats, totals=totals, by_format=by_format, data=data,
                  previous_generated=prev_generated)
    model.failed_builds = [e for e in envs if e["state"] == "build"]
    model.failed_dumps = [e for e in envs if e["state"] == "dump"]
    model.producer_na = _group_na(header.get("producer_na", []))
    model.known = [dict(k, link=safe_link(k.get("link")),
                        cells=k["cells"] if isinstance(k.get("cells"), int) else known_counts.get(first_line(k.get("reason")), 0))
                   for k in header.get("known", [])]
    model.canaries = seen.canaries
    model.causes = seen.causes.result({e["id"]: str(e.get("sklearn")) for e in envs})
    model.cross_arch = seen.twins.result()
    model.proof = header.get("proof") if isinstance(header.get("proof"), dict) else {}
    model.warnings = _warning_rows(warn_stats)
    model.changes = _change_rows(changes, envs, formats, est_names, matrix) if previous is not None else {}
    model.typed, model.type_changed = seen.typed, seen.type_changed
    model.refits, model.refits_differ = seen.refits, seen.refits_differ
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

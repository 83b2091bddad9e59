"""Render a run's results.json.gz into a self-contained index.html and a summary.md for CI step summaries."""

import hashlib
import json
import math
import sys
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import jinja2
import markupsafe

from . import model as report_model
from .rows import collector_paused
from ..results import file as results_file
from ..core.errors import ResultsSchemaError
from ..core.untrusted import md_code, md_text

TEMPLATES = Path(__file__).resolve().parent / "templates"
PREVIOUS = results_file.PREVIOUS


class Rendered(NamedTuple):
    """The files render() wrote."""

    html: Path
    summary: Path

    def __str__(self):
        return f"{self.html} and {self.summary.name}"


@lru_cache(maxsize=1)
def environment():
    """Autoescaped, strict Jinja: text from untrusted artifacts reaches the page."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    # Compact JSON for the embedded data; |tojson still escapes <, >, & and '.
    # allow_nan=False: Infinity or NaN in the page data would break JSON.parse in the browser.
    env.policies["json.dumps_kwargs"] = {"sort_keys": False, "separators": (",", ":"), "allow_nan": False}
    env.policies["json.dumps_function"] = _dumps_finite
    env.filters["num"] = lambda n: f"{n:,}"
    env.globals["asset"] = asset
    return env


@lru_cache(maxsize=None)
def asset(name):
    """A plain .js or .css file of templates/, inlined as it is (never parsed as a template)."""
    text = (TEMPLATES / name).read_text(encoding="utf-8")
    # Inlined, a closing tag would end the element early: the file must not contain one.
    closing = "</script" if name.endswith(".js") else "</style"
    if closing in text.lower():
        raise ValueError(f"templates/{name} contains {closing}: it cannot be inlined")
    return markupsafe.Markup(text)


def _previous(run_dir, previous):
    """(the previous run as a model.Previous or None, a note when a previous file was there but unusable)."""
    if isinstance(previous, dict):
        return report_model.previous_of(previous), ""
    path = Path(previous) if previous is not None else run_dir / PREVIOUS
    if previous is None and not path.exists():
        return None, ""
    try:
        header, cells = report_model.open_results(path, "previous results")
        return report_model.previous_of(dict(header, cells=cells)), ""
    except ResultsSchemaError as exc:
        return None, f"not compared with the previous run: {exc}"


def render(run_dir, previous=None, model=None):
    """Write run_dir/index.html and run_dir/summary.md from run_dir/results.json.gz; returns their paths.

    previous: the results of an earlier run (path or dict) for "what changed"; by default
    run_dir/previous-results.json.gz when it exists. model: the view model the merge made of
    those same files as it wrote them (collect.write_results), so that neither is read again.
    """
    with collector_paused():
        return _render(Path(run_dir), previous, model)


def _render(run_dir, previous, model):
    path = run_dir / results_file.NAME
    note = ""
    if model is None:
        header, cells = report_model.open_results(path)
        prev, note = _previous(run_dir, previous)
        model = report_model.build(dict(header, cells=cells), prev)  # the cells are read as the model takes them
    # A per-content nonce: the page's own script runs, anything else (were it ever injected) would not.
    digest = hashlib.sha256(path.read_bytes() if path.exists() else b"")
    digest.update(json.dumps(model.previous_generated or None).encode())
    nonce = digest.hexdigest()[:24]
    header = model.results
    page = environment().get_template("report.html.j2").render(
        m=model, r=header, data=model.data, nonce=nonce, note=note, statuses=report_model.STATUSES,
        harness=header.get("harness") or {})
    out_html, out_md = run_dir / "index.html", run_dir / "summary.md"
    _write(out_html, page)
    _write(out_md, summary(model, note))
    return Rendered(out_html, out_md)


def _dumps_finite(value, **kwargs):
    """json.dumps for the page: only data with an infinite or NaN float is walked to clamp them."""
    try:
        return json.dumps(value, **kwargs)
    except ValueError:
        return json.dumps(_finite(value), **kwargs)


def _finite(value):
    """The page data with every infinite float clamped and NaN as null: JSON.parse has neither."""
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return value if math.isfinite(value) else math.copysign(sys.float_info.max, value)
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def _write(path, text):
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def summary(model, note=""):
    """summary.md: counts by outcome and format, failed builds and dumps, new breakages.

    Every string from the results goes through md_text (or md_code for a plain identifier): estimator
    names, errors and reasons come from artifacts, and GitHub renders the step summary's links and images.
    """
    r = model.results
    lines = [f"## scikit-learn persistence matrix {md_code(r.get('matrix', ''))}", "",
             f"{model.cells:,} cells, {len(model.envs)} environments, generated {md_text(r.get('generated', ''))}."
             f" Open `index.html` for the grids.", ""]
    proof = model.proof or {}
    if proof and not proof.get("ok", True):
        lines += ["**This run did not prove it can fail:** " + md_text("; ".join(proof.get("problems") or ())) + ".", ""]
    elif proof:
        lines += [f"Canaries: {proof['canaries']['computed']:,} of {proof['canaries']['total']:,} computed, all as "
                  f"expected; {proof['controls']['computed']:,} diagonal controls passed"
                  + "".join(f", {n:,} {md_text(s)} diagonal cells counted apart" for s, n in
                            sorted((proof["controls"].get("not_controls") or {}).items())) + ".", ""]
    def row(*cells):
        return "| " + " | ".join(cells) + " |"

    lines += [row("outcome", "all", *(md_text(f) for f in model.formats)),
              row("---", "---:", *("---:" for _ in model.formats))]
    for status in (s for s in report_model.STATUSES if model.totals.get(s)):
        lines.append(row(status, f"{model.totals[status]:,}",
                         *(f"{model.by_format[f].get(status, 0):,}" for f in model.formats)))
    lines.append(row("**total**", f"**{model.cells:,}**", *(f"{sum(model.by_format[f].values()):,}"
                                                             for f in model.formats)))
    known = sum(k["cells"] for k in model.known)
    if known or model.totals.get(report_model.PENDING):
        lines += ["", f"{known:,} failing cells are known incompatibilities; "
                      f"{model.totals.get(report_model.PENDING, 0):,} cells are not computed yet (pending)."]
    if model.type_changed:
        lines += ["", f"{model.type_changed:,} cells return another output type than their producer (dtype or dense/sparse), "
                      "whatever their values."]
    if model.refits:
        lines += ["", f"Retrain instead? Of {model.refits:,} cells loaded in another environment, {model.refits_differ:,} "
                      "predict unlike that environment's own fit of the same estimator on the same data: there a "
                      "retrain would change predictions where loading the artifact does not."]
    if model.causes:
        lines += ["", f"### Why cells broke: {len(model.causes):,} causes", "", "| cause | cells | producers | consumers |",
                  "|---|---:|---|---|"]
        lines += [f"| {md_text(c['cause'])} | {c['cells']:,} | {md_text(c['producers'][0])}–{md_text(c['producers'][1])} "
                  f"| {md_text(c['consumers'][0])}–{md_text(c['consumers'][1])} |" for c in model.causes[:10]]
    if model.cross_arch:
        lines += ["", "### Same versions, other architecture", "",
                  "| saved in | loaded in | format | cells | not identical or close |", "|---|---|---|---:|---|"]
        for pair in model.cross_arch:
            broken = ", ".join(f"{md_text(b['estimator'])} ({md_text(b['cause'])})" for b in pair["broken"][:8])
            more = f" and {len(pair['broken']) - 8} more" if len(pair["broken"]) > 8 else ""
            lines.append(f"| {md_code(pair['producer'])} ({pair['words'][0]}) | {md_code(pair['consumer'])} "
                         f"({pair['words'][1]}) | {md_text(pair['format'])} | {sum(pair['counts'].values()):,} "
                         f"| {broken + more or 'none'} |")
    if model.failed_builds:
        lines += ["", f"### Environments that failed to build ({len(model.failed_builds)})", ""]
        lines += [f"- {md_code(e['id'])}: {md_text(e['problem'])}" for e in model.failed_builds]
    if model.failed_dumps:
        lines += ["", f"### Dumps that failed ({len(model.failed_dumps)})", ""]
        lines += [f"- {md_code(e['id'])}: {md_text(e['problem'])}" for e in model.failed_dumps]
    dropped = r.get("dropped") or []
    if dropped:
        lines += ["", f"### Dropped combinations ({len(dropped)})", ""]
        lines += [f"- {md_code(d.get('id', ''))}: {md_text(d.get('reason', ''))}" for d in dropped]
    if model.changes:
        counts = model.changes["counts"]
        lines += ["", f"### Since the previous run ({md_text(model.previous_generated)})", "",
                  f"**{counts['breakage']:,} new breakages**, {counts['fix']:,} fixes, "
                  f"{counts['still']:,} still failing, {counts['new']:,} new cells, {counts['gone']:,} gone."]
        if model.changes["breakage_cells"]:
            lines += ["", "| producer | consumer | format | estimator | was | now |", "|---|---|---|---|---|---|"]
            lines += [f"| {md_code(c['producer'])} | {md_code(c['consumer'])} | {md_text(c['format'])} "
                      f"| {md_text(c['estimator'])} | {c['was']} | {c['now']} |"  # statuses: classify() knows them
                      for c in model.changes["breakage_cells"][:30]]
            if counts["breakage"] > 30:
                lines.append(f"\n... and {counts['breakage'] - 30:,} more in index.html")
    elif note:
        lines += ["", md_text(note)]
    return "\n".join(lines) + "\n"

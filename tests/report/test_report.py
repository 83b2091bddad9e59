"""The report: grids data, counts, escaping of untrusted text, schema refusal, summary.md and what changed."""

import html
import importlib.util
import json
import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from harness.results import proof, file as results_file
from harness.report import columns, render as report, model as report_model, rows as report_rows, texts
from harness.core.errors import ResultsSchemaError
from harness.inside.schema import SCHEMA_VERSION, Status
from harness.results.file import RESULTS_SCHEMA

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("report_synthetic", REPO / "bench" / "report_synthetic.py")
synthetic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synthetic)

PAYLOAD = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def page_data(page):
    """The JSON the page embeds for its script."""
    found = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S)
    return json.loads(found.group(1))


def outside_data(page):
    """The page without its embedded JSON."""
    return re.sub(r'(<script type="application/json" id="report-data">).*?(</script>)', r"\1\2", page, flags=re.S)


def env(sklearn, python="3.11", numpy="1", arch="amd64", ok=True):
    env_id = f"skl{sklearn}-py{python}-np{numpy}-{arch}"
    return {"id": env_id, "sklearn": sklearn, "python": python, "numpy": numpy, "arch": arch,
            "build": {"env": env_id, "ok": ok, "error": "" if ok else "no wheel", "log_tail": []},
            "dump": {"env_id": env_id, "ok": ok, "error": ""} if ok else None}


def cell(producer, consumer, estimator, status, fmt="pickle", **extra):
    return {"schema": SCHEMA_VERSION, "key": f"{producer}{consumer}{estimator}{fmt}", "producer": producer,
            "consumer": consumer, "estimator": estimator, "format": fmt, "family": "linear", "status": status,
            **extra}


def results_of(cells, envs=None, generated="2025-06-02T00:00:00+00:00", **extra):
    envs = envs or [env("1.3.2"), env("1.5.2")]
    return {"schema": RESULTS_SCHEMA, "matrix": "m", "generated": generated, "formats": ["pickle", "skops"],
            "environments": envs, "dropped": [], "producer_na": [], "known": [], "cells": cells, **extra}


def write(path, data):
    """A results file as merge writes it: gzipped JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    results_file.write(path, data)


@pytest.fixture
def synthetic_run(tmp_path):
    run = tmp_path / "run"
    results = synthetic.write_tree(run, 3000)
    return run, results


def test_render_writes_a_page_with_grids_counts_and_legend(synthetic_run):
    run, results = synthetic_run
    written = report.render(run)
    assert written.html == run / "index.html" and written.summary == run / "summary.md"
    page = written.html.read_text(encoding="utf-8")
    for status in texts.STATUSES:
        assert f"</i>{status} <small>" in page  # the legend, with counts
    assert 'id="grids"' in page and 'id="upgrade"' in page and 'id="sandbox"' in page
    data = page_data(page)
    rows = columns.rows_of(data)
    n = len(rows["s"])
    assert all(len(rows[k]) == n for k in ("e", "a", "q", "w", "x", "k", "n", "ch"))
    expected = Counter(c["status"] for c in results["cells"])
    producers_ok = sum(1 for e in results["environments"] if e["build"]["ok"])  # consumers of producer n/a rows
    expected[Status.NOT_APPLICABLE] += len(results["producer_na"]) * producers_ok
    assert Counter(data["statuses"][ord(ch) - 97] for ch in rows["s"]) == expected
    # every group is one contiguous run of rows of one producer, consumer and format
    starts = data["g"]["s"]
    assert starts[0] == 0 and starts[-1] == n and starts == sorted(starts)
    assert len(set(zip(data["g"]["p"], data["g"]["c"], data["g"]["f"]))) == len(starts) - 1
    # environments come sorted by scikit-learn version, then Python, numpy and arch
    versions = [tuple(int(x) for x in e[1].split(".")) for e in data["envs"]]
    assert versions == sorted(versions)
    summary = written.summary.read_text(encoding="utf-8")
    assert "| outcome | all | pickle | pickle\\-p5 |" in summary  # escaped: format names come from manifests
    assert f"| identical | {expected['identical']:,} |" in summary
    assert "Environments that failed to build" in summary and "skl1.0.2-py3.12-np1-arm64" in summary
    assert "new breakages" in summary


def test_the_page_is_self_contained(synthetic_run):
    run, _ = synthetic_run
    page = report.render(run).html.read_text(encoding="utf-8")
    rest = outside_data(page)
    assert "<link" not in rest and " src=" not in rest and "@import" not in rest and "url(" not in rest
    assert "default-src 'none'" in page
    assert "innerHTML" not in page and "insertAdjacentHTML" not in page and "document.write" not in page


def test_another_schema_number_is_refused_with_what_to_run(tmp_path):
    write(tmp_path / results_file.NAME, dict(results_of([]), schema=RESULTS_SCHEMA + 1))
    with pytest.raises(ResultsSchemaError) as err:
        report.render(tmp_path)
    assert f"schema {RESULTS_SCHEMA + 1}" in str(err.value)
    assert "python -m harness" in err.value.line()
    assert not (tmp_path / "index.html").exists()


def test_a_previous_run_under_another_schema_is_not_compared(tmp_path):
    write(tmp_path / results_file.NAME, results_of([cell("skl1.3.2-py3.11-np1-amd64", "skl1.5.2-py3.11-np1-amd64",
                                                      "Ridge", "identical")]))
    write(tmp_path / results_file.PREVIOUS, {"schema": 0, "cells": []})
    written = report.render(tmp_path)
    assert "not compared with the previous run" in written.html.read_text(encoding="utf-8")


def test_untrusted_text_is_escaped_everywhere(tmp_path):
    run = tmp_path / "run"
    results = synthetic.write_tree(run, 1500, payload=PAYLOAD)
    results["environments"][0]["build"]["log_tail"].append(PAYLOAD)
    write(run / results_file.NAME, results)
    written = report.render(run)
    page = written.html.read_text(encoding="utf-8")
    assert "<script>alert" not in page and "<img src=x" not in page and "</script><img" not in page
    assert page.count("<script") == 2  # the JSON data block and the page's own script
    escaped = html.escape(PAYLOAD, quote=False)
    rest = outside_data(page)
    assert rest.count(escaped) >= 4  # build log tail, known reason, dropped reason, producer n/a reason
    data = page_data(page)  # inside the JSON block: <, > and & are \u escapes, decoded here to the same text
    assert PAYLOAD in data["est"][0]
    assert any(s.startswith(f"ValueError: {PAYLOAD}") for s in data["S"])  # the error's first line
    assert PAYLOAD in data["S"]  # the warning message
    assert any(PAYLOAD in s for s in data["S"] if s.startswith("numpy 2 pickles"))  # the known reason
    assert PAYLOAD not in written.summary.read_text(encoding="utf-8")
    assert "&lt;script&gt;" in written.summary.read_text(encoding="utf-8")


def test_javascript_links_never_become_hrefs(tmp_path):
    c = cell("skl1.3.2-py3.11-np1-amd64", "skl1.5.2-py3.11-np1-amd64", "Ridge", "load-error",
             known={"reason": "bad", "link": "javascript:alert(1)"})
    write(tmp_path / results_file.NAME, results_of([c], known=[{"producer": "*", "consumer": "*", "format": "*",
                                                            "estimator": "*", "reason": "bad",
                                                            "link": "javascript:alert(1)"}]))
    page = report.render(tmp_path).html.read_text(encoding="utf-8")
    assert 'href="javascript' not in page
    assert "javascript:alert(1)" not in json.dumps(page_data(page)["S"])


def test_what_changed_classifies_breakages_fixes_and_still_failing(tmp_path):
    a, b = "skl1.3.2-py3.11-np1-amd64", "skl1.5.2-py3.11-np1-amd64"
    before_after = {
        "Ridge": ("identical", "load-error"),        # new breakage
        "Lasso": ("warning", "mismatch"),            # new breakage
        "SVC": ("load-error", "identical"),          # fix
        "SVR": ("crash", "warning"),                 # fix
        "PCA": ("crash", "load-error"),              # still failing, previous run says since when
        "NMF": ("timeout", "timeout"),               # still failing since the previous run
        "KMeans": ("close", "warning"),              # other change, not a breakage
        "Birch": ("identical", "identical"),
        "Pipeline": ("n/a", "load-error"),           # not comparable
    }
    old = [cell(a, b, name, was) for name, (was, _) in before_after.items()]
    old[4]["since"] = "2025-05-01T00:00:00+00:00"
    new = [cell(a, b, name, now) for name, (_, now) in before_after.items()] + [cell(a, b, "Lars", "identical")]
    previous = results_of(old, generated="2025-06-01T00:00:00+00:00")
    previous["cells"].append(cell(a, b, "Gone", "identical"))
    model = report_model.build(results_of(new), previous)
    counts = model.changes["counts"]
    assert (counts["breakage"], counts["fix"], counts["still"]) == (2, 2, 2)
    assert counts["new"] == 1 and counts["gone"] == 1 and counts["other"] == 2
    assert {c["estimator"] for c in model.changes["breakage_cells"]} == {"Ridge", "Lasso"}
    assert {c["estimator"] for c in model.changes["fix_cells"]} == {"SVC", "SVR"}
    rows = columns.rows_of(model.data)
    since = {model.data["est"][e]: (model.data["S"][n - 1] if n else None) for e, n in zip(rows["e"], rows["n"])}
    assert since["PCA"] == "2025-05-01T00:00:00+00:00"
    assert since["NMF"] == "2025-06-01T00:00:00+00:00"
    assert since["Ridge"] == "2025-06-02T00:00:00+00:00"
    assert since["Birch"] is None and since["SVC"] is None
    change = {model.data["est"][e]: ch for e, ch in zip(rows["e"], rows["ch"])}
    assert change["Ridge"] == change["Lasso"] == "b" and change["SVC"] == "f" and change["PCA"] == "s"
    assert change["KMeans"] == change["Birch"] == change["Pipeline"] == "."
    write(tmp_path / results_file.NAME, results_of(new))
    write(tmp_path / results_file.PREVIOUS, previous)  # picked up by default
    summary = report.render(tmp_path).summary.read_text(encoding="utf-8")
    assert "**2 new breakages**, 2 fixes, 2 still failing" in summary
    assert "| Ridge | identical | load-error |" in summary


def test_since_says_when_a_failing_cell_first_failed():
    a, b = "skl1.3.2-py3.11-np1-amd64", "skl1.5.2-py3.11-np1-amd64"
    prev = results_of([cell(a, b, "X", "crash", since="2025-01-01"), cell(a, b, "Y", "identical"),
                       cell(a, b, "Z", "crash")], generated="2025-06-01")
    cur = results_of([cell(a, b, "X", "crash"), cell(a, b, "Y", "crash"), cell(a, b, "Z", "load-error"),
                      cell(a, b, "W", "identical", since="stale")], generated="2025-06-02")
    before = report_rows.previous_of(prev)
    since = [report_rows.since_of(c, before.before.get(report_rows.cell_id(c)), cur["generated"], before.generated)
             for c in cur["cells"]]
    assert since == ["2025-01-01", "2025-06-02", "2025-06-01", None]


def test_worst_and_classify_follow_the_schema_order():
    assert report_model.worst(["n/a", "identical"]) == "identical"
    assert report_model.worst(["n/a"]) == "n/a"
    assert report_model.worst(["pending", "n/a"]) == "pending"
    assert report_model.worst(["warning", "pending", "close"]) == "pending"  # not computed never reads as surviving
    assert report_model.worst(["mismatch", "pending"]) == "mismatch"
    assert report_model.worst(["timeout", "crash", "load-error"]) == "timeout"
    assert report_rows.classify("warning", "predict-error") == "breakage"
    assert report_rows.classify("mismatch", "close") == "fix"
    assert report_rows.classify("identical", "warning") is None
    assert report_rows.classify(None, "crash") is None


def test_records_are_read_leniently():
    assert texts.diff_of({"max_abs": 1e-9, "max_rel": None}) == (1e-9, None)
    assert texts.diff_of({"max_abs": float("inf"), "max_rel": float("nan")}) == (1.7976931348623157e308, None)
    assert texts.warnings_of({"warnings": [{"category": "InconsistentVersionWarning", "original_version": None,
                                                   "message": "Trying to unpickle estimator A "
                                                   "from version 1.2.2 when using version 1.5.2."}, "not a record"]}) == [
        ("InconsistentVersionWarning", "Trying to unpickle estimator A from version 1.2.2 when using version 1.5.2.",
         "1.2.2")]
    assert texts.error_text({"error": {"type": "EOFError", "message": "\nRan out\nof input"}}) == \
        "EOFError: Ran out"
    assert texts.error_text({"error": "x" * 1000}).endswith("\u2026")
    assert texts.error_text({"error": None, "methods": {
        "predict": {"status": "identical", "detail": ""},
        "predict_proba": {"status": "mismatch", "detail": "3 of 300 values differ\nmore"}}}) == \
        "predict_proba mismatch: 3 of 300 values differ"
    assert report_model.repro_command("m", "c1", "p1", "Ridge", "pickle") == \
        "python -m harness load --matrix m c1 --only 'p1/Ridge/pickle'"


def test_safe_warnings_and_environment_problems_are_shown(tmp_path):
    a, b, broken = "skl1.3.2-py3.11-np1-amd64", "skl1.5.2-py3.11-np1-amd64", "skl1.0.2-py3.12-np1-amd64"
    version_warning = {"category": "InconsistentVersionWarning", "message": "Trying to unpickle estimator Ridge "
                       "from version 1.3.2 when using version 1.5.2.", "original_version": "1.3.2"}
    cells = [cell(a, b, "Ridge", "warning", max_abs=0.0, max_rel=0.0, warnings=[version_warning]),
             cell(a, b, "Lasso", "warning", max_abs=1e-12, max_rel=1e-9, warnings=[version_warning]),
             cell(a, b, "SVC", "pending"),
             cell(b, a, "SVC", "load-error", error={"type": "KeyError", "message": "118"},
                  known={"reason": "older releases cannot read newer pickles", "link": "https://example.org/1"})]
    envs = [env("1.3.2"), env("1.5.2"), env("1.0.2", python="3.12", ok=False)]
    envs[2]["build"]["log_tail"] = ["ERROR: No matching distribution found for numpy<2"]
    write(tmp_path / results_file.NAME, results_of(
        cells, envs=envs, dropped=[{"id": "skl0.24.2-py3.12-np1-amd64", "reason": "no wheel for 3.12"}],
        producer_na=[{"producer": a, "estimator": "NMF", "family": "decomposition", "format": "onnx",
                      "status": "n/a", "reason": "no converter"}],
        known=[{"producer": "*1.5*", "consumer": "*1.3*", "format": "*", "estimator": "*",
                "reason": "older releases cannot read newer pickles", "link": "https://example.org/1"}]))
    model = report_model.build(report_model.load_results(tmp_path / results_file.NAME))
    assert [(w["category"], w["identical"], w["close"], w["worse"], w["safe"]) for w in model.warnings] == [
        ("InconsistentVersionWarning", 1, 1, 0, True)]
    assert model.data["formats"] == ["pickle", "skops", "onnx"]
    page = report.render(tmp_path).html.read_text(encoding="utf-8")
    assert "safe here" in page
    assert f"<code>{broken}</code>: <b>no wheel</b>" in page
    assert "No matching distribution found for numpy&lt;2" in page
    assert "skl0.24.2-py3.12-np1-amd64" in page and "no wheel for 3.12" in page
    assert "no converter" in page
    assert 'href="https://example.org/1"' in page and "older releases cannot read newer pickles" in page
    data = page_data(page)
    assert [e[5] for e in data["envs"]] == ["build", "ok", "ok"]
    assert len(data["r"]["wc"]) == 1  # Lasso: warning with predictions only close


def test_the_page_stays_small(tmp_path):
    run = tmp_path / "run"
    results = synthetic.write_tree(run, 10_000, previous=False)
    size = report.render(run).html.stat().st_size
    assert size < 60 * len(results["cells"])  # bytes per cell: columnar, string tables


def test_render_is_a_pure_function_of_the_tree(synthetic_run):
    run, _ = synthetic_run
    first = report.render(run).html.read_bytes()
    assert report.render(run).html.read_bytes() == first


def test_infinite_differences_keep_the_page_parseable(tmp_path):
    # A producer output of 0 makes the relative difference infinite; JSON.parse has no Infinity.
    p, c = env("1.3.2")["id"], env("1.5.2")["id"]
    methods = {"predict_proba": {"status": "mismatch", "max_abs": float("inf"), "max_rel": float("nan")}}
    write(tmp_path / "run" / results_file.NAME, results_of([
        cell(p, c, "LogisticRegression", "mismatch", max_abs=0.5, max_rel=float("inf"), methods=methods)]))
    report.render(tmp_path / "run")
    page = (tmp_path / "run" / "index.html").read_text()
    found = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S).group(1)
    json.loads(found, parse_constant=lambda name: pytest.fail(f"{name} in the page data"))


def test_the_sandbox_section_states_its_limits(tmp_path):
    from harness.stages.load import sandbox_record

    write(tmp_path / results_file.NAME, results_of([], sandbox=sandbox_record()))
    page = outside_data(report.render(tmp_path).html.read_text(encoding="utf-8"))
    section = page[page.index('<section id="sandbox">'):]
    for needed in ("only ever loaded inside the sandbox", "network", "none", "256 at most", "4 GB",
                   "10001:10001 (not root)", "2 GiB of address space", "refused"):
        assert needed in section, needed


def test_an_environment_run_with_runtime_variables_says_so(tmp_path):
    arm = env("1.9.1", python="3.13", numpy="2", arch="arm64")
    arm["build"]["runtime"] = {"OPENBLAS_CORETYPE": "ARMV8"}
    write(tmp_path / results_file.NAME, results_of([], envs=[env("1.3.2"), arm]))
    page = outside_data(report.render(tmp_path).html.read_text(encoding="utf-8"))
    section = page[page.index('<section id="environments">'):]
    assert "OPENBLAS_CORETYPE=ARMV8" in section and "BLAS self-test" in section


def test_canaries_stand_apart_a_failed_proof_heads_the_page_and_stale_entries_show(tmp_path):
    p = env("1.3.2")["id"]
    canary = cell(p, p, "canary-scaled", "identical", canary={"status": "mismatch", "type_change": False})
    real = cell(p, p, "LogisticRegression", "identical", grid={"predict": "IM...."},
                methods={"predict@outside": {"status": "mismatch", "detail": "1 of 60 labels differ"}},
                type_changes=["predict: dtype int64 -> int32"])
    cells = [canary, real]
    stale = {"producer": "*", "consumer": "*", "format": "onnx", "estimator": "*", "status": ["mismatch"],
             "error": "", "reason": "float32", "link": "https://onnx.ai/", "cells": 0}
    write(tmp_path / results_file.NAME, results_of(cells, envs=[env("1.3.2")], known=[stale],
                                                proof=proof.check(cells)))
    written = report.render(tmp_path)
    page = written.html.read_text(encoding="utf-8")
    assert "This run did not prove it can fail" in page and "came out identical, expected mismatch" in page
    assert ">stale</span>" in page
    assert "<b>1</b><span>cells whose output type changed</span>" in page
    data = page_data(page)
    assert "canary-scaled" not in data["est"]  # apart from the real cells
    calls = data["S"][columns.rows_of(data)["m"][0] - 1]  # 1-based: 0 is no text
    assert calls.startswith("predict=IM....") and "predict@outside: mismatch: 1 of 60 labels differ" in calls
    assert data["inputs"][:2] == ["fixed", "outside"] and data["v"] == columns.PAGE_DATA_VERSION
    summary = written.summary.read_text(encoding="utf-8")
    assert "did not prove it can fail" in summary and "1 cells return another output type" in summary


def test_failures_group_by_cause_with_the_versions_each_spans():
    from harness.results import causes

    rows = [cell("p1", "c1", "GB", "load-error", error={"type": "ModuleNotFoundError",
                                                         "message": "No module named 'sklearn.ensemble._gb_losses'"}),
            cell("p2", "c2", "GB2", "load-error", error={"type": "ModuleNotFoundError",
                                                          "message": "No module named 'sklearn.ensemble._gb_losses'"}),
            cell("p1", "c2", "KNN", "load-error", error={"type": "AttributeError", "message":
                 "Can't get attribute 'EuclideanDistance' on <module 'sklearn.metrics._dist_metrics' from '/x.so'>"}),
            cell("p1", "c1", "LR", "mismatch", methods={"predict@outside": {"status": "mismatch"}}),
            cell("p1", "c1", "OK", "identical")]
    tally = causes.Tally()
    for row in rows:
        tally.add(row)
    got = tally.result({"p1": "0.24.2", "p2": "1.2.2", "c1": "1.4.2", "c2": "1.9.1"})
    assert [(g["cause"], g["cells"]) for g in got] == [
        ("ModuleNotFoundError: module sklearn.ensemble._gb_losses is gone", 2),
        ("AttributeError: sklearn.metrics._dist_metrics.EuclideanDistance is gone", 1),
        ("predictions changed: predict", 1)]
    assert got[0]["producers"] == ("0.24.2", "1.2.2") and got[0]["consumers"] == ("1.4.2", "1.9.1")



def test_the_report_script_is_plain_javascript_that_node_parses(tmp_path):
    # The script is a .js file the renderer inlines as it is: a syntax error must fail here, not
    # in a reader's browser. CI installs node (for the workflow linter too).
    if shutil.which("node") is None:
        if os.environ.get("SKLMATRIX_REQUIRE_ENGINE") == "1":
            pytest.fail("node is not installed (`./run tests` installs it as root)")
        pytest.skip("node is not installed")
    script = report.TEMPLATES / "report.js"
    assert subprocess.run(["node", "--check", str(script)], capture_output=True).returncode == 0
    broken = tmp_path / "broken.js"
    broken.write_text(script.read_text() + "\nfunction (\n")
    assert subprocess.run(["node", "--check", str(broken)], capture_output=True).returncode != 0


def test_an_asset_holding_a_closing_tag_is_not_inlined(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "TEMPLATES", tmp_path)
    (tmp_path / "x.js").write_text("const s = '</SCRIPT>';")
    with pytest.raises(ValueError, match="cannot be inlined"):
        report.asset.__wrapped__("x.js")
    (tmp_path / "x.css").write_text("p { color: red }")
    assert report.asset.__wrapped__("x.css") == "p { color: red }"


def test_diagonal_cells_that_test_no_judgement_are_counted_apart_on_the_page_and_in_the_summary(tmp_path):
    p = env("1.3.2")["id"]
    canary = cell(p, p, "canary-scaled", "mismatch", canary={"status": "mismatch", "type_change": False})
    cells = [canary, cell(p, p, "Ridge", "identical"), dict(cell(p, p, "GridSearchCV", "refused"), format="skops")]
    write(tmp_path / results_file.NAME, results_of(cells, envs=[env("1.3.2")], proof=proof.check(cells)))
    written = report.render(tmp_path)
    page = written.html.read_text(encoding="utf-8")
    assert "This run did not prove it can fail" not in page
    assert "Not controls, counted apart: 1 refused" in page
    assert "1 refused diagonal cells counted apart" in written.summary.read_text(encoding="utf-8")


def test_32_bit_and_big_endian_environments_are_grouped_apart_by_their_word(tmp_path):
    envs = [env("1.3.2"), dict(env("1.3.2"), id="skl1.3.2-py3.11-deb12-s390x", arch="s390x"),
            dict(env("1.0.2"), id="skl1.0.2-py3.11-np1-i386", arch="i386")]
    write(tmp_path / results_file.NAME, results_of([], envs=envs))
    data = page_data(report.render(tmp_path).html.read_text(encoding="utf-8"))
    assert [(row[4], row[7]) for row in data["envs"]] == [
        ("amd64", "64-bit little-endian"), ("i386", "32-bit little-endian"), ("s390x", "64-bit big-endian")]


def test_same_versions_on_another_architecture_lists_what_breaks_there_and_why(tmp_path):
    amd, be, other = "skl1.2.1-py3.11-deb12-amd64", "skl1.2.1-py3.11-deb12-s390x", "skl1.3.2-py3.11-np1-amd64"
    envs = [dict(env("1.2.1"), id=amd), dict(env("1.2.1", arch="s390x"), id=be), env("1.3.2")]
    error = {"type": "ValueError", "message": "Big-endian buffer not supported on little-endian compiler"}
    cells = [cell(amd, be, "Ridge", "identical"), cell(amd, be, "KDTree", "load-error", error=error),
             cell(be, amd, "Ridge", "close"), cell(amd, other, "Ridge", "mismatch"),  # not twins: left out
             cell(amd, amd, "Ridge", "identical")]  # the diagonal: no other architecture
    write(tmp_path / results_file.NAME, results_of(cells, envs=envs))
    written = report.render(tmp_path)
    model_pairs = [(p["producer"], p["consumer"], p["counts"], [b["estimator"] for b in p["broken"]])
                   for p in report_model.build(report_model.load_results(tmp_path / results_file.NAME)).cross_arch]
    assert model_pairs == [(amd, be, {"identical": 1, "load-error": 1}, ["KDTree"]), (be, amd, {"close": 1}, [])]
    page, summary_md = written.html.read_text(encoding="utf-8"), written.summary.read_text(encoding="utf-8")
    assert "Same versions, other architecture" in page and "64-bit big-endian" in page
    row = [line for line in summary_md.splitlines() if line.startswith(f"| `{amd}`")][0]
    assert "KDTree (ValueError" in row and "not supported on little" in row

"""A run with nothing changed reads and writes nothing it need not: the planning of a complete
consumer reads no results line, and the merge and report are kept when nothing they read changed."""

import json

from test_untrusted import _tree, entry

from harness.results import cells as cells_mod
from harness.stages import freshness, load as loads
from harness.report import collect as merge, render as report
from harness.envs.images import Built
from harness.inside.schema import SCHEMA_VERSION
from harness.core.files import write_json


def _dumped(tmp_path):
    two, tree, producer, consumer = _tree(tmp_path)
    folder = tree.artifacts(producer)
    write_json(tree.manifest(producer), {"estimators": [entry("Ridge", folder), entry("Lasso", folder)]})
    return two, tree, producer, consumer


def _plan(two, tree, producer, consumer):
    return loads.plan_env(two, two.env(consumer), Built(consumer, True, "img:1"), [producer], tree)


def _complete(two, tree, producer, consumer):
    """Write a line for every wanted cell of the consumer, as a finished load does."""
    plan = _plan(two, tree, producer, consumer)
    path = tree.results(consumer)
    cells_mod.open_for_append(path)
    with open(path, "a") as handle:
        for cell in plan.wanted:
            handle.write(json.dumps({"key": cell.key, "schema": SCHEMA_VERSION, "status": "identical", "producer": producer,
                                     "consumer": consumer, "estimator": cell.estimator, "format": cell.format}) + "\n")
    return plan


def test_a_complete_consumer_is_planned_without_reading_its_results(tmp_path, monkeypatch):
    two, tree, producer, consumer = _dumped(tmp_path)
    plan = _complete(two, tree, producer, consumer)
    assert len(plan.wanted) == 2 and len(plan.todo) == 2
    assert _plan(two, tree, producer, consumer).todo == ()  # read once, and found complete
    read, planned = [], []
    real, real_cells = cells_mod.read_all, cells_mod.cells_for
    monkeypatch.setattr(cells_mod, "read_all", lambda paths: read.append(paths) or real(paths))
    monkeypatch.setattr(cells_mod, "cells_for", lambda *a, **k: planned.append(a) or real_cells(*a, **k))
    again = _plan(two, tree, producer, consumer)
    assert again.todo == () and again.size == 2 and read == [] and planned == []  # neither read nor made
    # A line lost from the results (the file rewritten) is seen: its cell is planned again.
    path = tree.results(consumer)
    path.write_text(path.read_text().splitlines(keepends=True)[0])
    assert [c.key for c in _plan(two, tree, producer, consumer).todo] == [plan.wanted[1].key] and read


def test_a_new_artifact_makes_a_complete_consumer_plan_again(tmp_path):
    two, tree, producer, consumer = _dumped(tmp_path)
    _complete(two, tree, producer, consumer)
    assert _plan(two, tree, producer, consumer).todo == ()
    folder = tree.artifacts(producer)
    write_json(tree.manifest(producer), {"estimators": [entry("Ridge", folder), entry("Lasso", folder),
                                                        entry("Lars", folder)]})
    assert [c.estimator for c in _plan(two, tree, producer, consumer).todo] == ["Lars"]


def test_merge_and_report_are_current_until_an_input_or_output_changes(tmp_path):
    two, tree, producer, consumer = _dumped(tmp_path)
    _complete(two, tree, producer, consumer)
    assert freshness.current(two, tree, []) is None  # never merged
    results = merge.write_results(two, tree, [])
    report.render(tree.root)
    freshness.record(two, tree, [], results)
    assert freshness.current(two, tree, []) == {"cells": 2, "proof": results["proof"]}
    with open(tree.results(consumer), "a") as handle:  # a result line more: merge again
        handle.write(json.dumps({"key": "x", "schema": SCHEMA_VERSION, "status": "identical"}) + "\n")
    assert freshness.current(two, tree, []) is None
    freshness.record(two, tree, [], results)
    assert freshness.current(two, tree, []) is not None
    (tree.root / "index.html").write_text("edited")  # an output changed: render again
    assert freshness.current(two, tree, []) is None
    freshness.record(two, tree, [], results)
    other = type(two)(**{**two.__dict__, "formats": ("skops",)})  # another matrix definition
    assert freshness.current(other, tree, []) is None


def test_canaries_made_anew_make_a_complete_consumer_plan_again(tmp_path, monkeypatch):
    # A canary's record is rewritten from the dump (not listed in its manifest): the stamp must see it.
    two, tree, producer, consumer = _dumped(tmp_path)
    made = [["canary-dtype", "a" * 64, "b" * 64]]
    monkeypatch.setattr(loads, "_write_canaries", lambda tree, env_id: list(made))
    built = Built(producer, True, "img:1")  # the producer loads its own dump, canaries included
    plan = loads.plan_env(two, two.env(producer), built, [producer], tree)
    stamped = loads.plan_inputs(two, built, [producer], tree, made)
    assert plan.inputs == stamped
    made[0][2] = "c" * 64  # the canary's record changed, its dump did not
    assert loads.plan_env(two, two.env(producer), built, [producer], tree).inputs != stamped


def test_the_same_stage_outcome_again_leaves_its_status_file_alone(tmp_path):
    # Status files are merge inputs: rewriting an unchanged outcome made every warm run merge again.
    from harness.stages.tree import RunTree

    tree = RunTree(tmp_path / "tree")
    record = {"env_id": "e", "ok": True, "seconds": 0.0, "cached": True}
    tree.save_status("build", record)
    before = tree.status("build", "e").stat()
    tree.save_status("build", dict(record))
    after = tree.status("build", "e").stat()
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)
    tree.save_status("build", dict(record, ok=False))
    assert tree.load_status("build", "e")["ok"] is False


def test_an_up_to_date_check_keeps_the_outcome_it_found_so_the_run_after_a_cold_one_merges_nothing(tmp_path):
    # The cold run records "built in 55 s"; the next run finds the image made (cached, 0 s): the
    # same outcome, so the status file, a merge input, stays with the time the build took.
    from harness.envs.images import Built
    from harness.stages.dump import Dumped
    from harness.stages.tree import RunTree

    tree = RunTree(tmp_path / "tree")
    built = Built("e", True, "img:1", seconds=55.2, log_tail=("Successfully built",), runtime=(("OMP", "1"),))
    tree.save_status("build", built.to_json())
    tree.save_status("dump", Dumped("e", True, seconds=7.1, artifacts=695).to_json())
    before = [tree.status(stage, "e").stat().st_mtime_ns for stage in ("build", "dump")]
    tree.save_status("build", Built("e", True, "img:1", cached=True, runtime=(("OMP", "1"),)).to_json())
    tree.save_status("dump", Dumped("e", True, cached=True, artifacts=695).to_json())
    assert [tree.status(stage, "e").stat().st_mtime_ns for stage in ("build", "dump")] == before
    assert tree.load_status("build", "e")["seconds"] == 55.2
    # Another image, other runtime variables or another artifact count is another outcome.
    for other in (Built("e", True, "img:2", cached=True, runtime=(("OMP", "1"),)), Built("e", True, "img:1", cached=True)):
        tree.save_status("build", other.to_json())
        assert tree.load_status("build", "e") == other.to_json()
    tree.save_status("dump", Dumped("e", True, cached=True, artifacts=694).to_json())
    assert tree.load_status("dump", "e")["artifacts"] == 694
    # A failed check is never taken for the recorded success.
    tree.save_status("dump", Dumped("e", False, cached=True, artifacts=694, error="damaged").to_json())
    assert tree.load_status("dump", "e")["ok"] is False


def test_the_merge_keeps_the_last_results_as_previous_only_when_outcomes_changed(tmp_path):
    from harness.results import file as results_file

    two, tree, producer, consumer = _dumped(tmp_path)
    plan = _complete(two, tree, producer, consumer)
    assert merge.write_results(two, tree, [])["cells"] == 2 and not tree.previous_results_json.exists()
    first = results_file.read(tree.results_json)
    with open(tree.results(consumer), "a") as handle:  # the same cell again, failing now
        handle.write(json.dumps({"key": plan.wanted[0].key, "schema": SCHEMA_VERSION, "status": "load-error",
                                 "error": {"type": "EOFError", "message": "Ran out of input"}}) + "\n")
    merge.write_results(two, tree, [])
    assert results_file.read(tree.previous_results_json) == first
    second = results_file.read(tree.results_json)
    failed = [c for c in second["cells"] if c["status"] == "load-error"]
    assert len(failed) == 1 and failed[0]["since"] == second["generated"]
    merge.write_results(two, tree, [])  # nothing changed: the run is not compared with itself
    assert results_file.read(tree.previous_results_json) == first
    third = results_file.read(tree.results_json)
    assert [c.get("since") for c in third["cells"]] == [c.get("since") for c in second["cells"]]
    assert third["proof"] == second["proof"] and third["known"] == []


def test_the_model_made_in_the_merge_renders_the_page_the_files_render(tmp_path):
    two, tree, producer, consumer = _dumped(tmp_path)
    plan = _complete(two, tree, producer, consumer)
    merge.write_results(two, tree, [])
    with open(tree.results(consumer), "a") as handle:  # a breakage since the last results
        handle.write(json.dumps({"key": plan.wanted[1].key, "schema": SCHEMA_VERSION, "status": "crash",
                                 "error": {"type": "Signal", "message": "child killed by SIGSEGV"}}) + "\n")
    merged = merge.write_results(two, tree, [], model=True)
    assert merged["model"] is not None and merged["model"].changes["counts"]["breakage"] == 1
    report.render(tree.root, model=merged["model"])
    fused = (tree.root / "index.html").read_text(), (tree.root / "summary.md").read_text()
    report.render(tree.root)
    assert fused == ((tree.root / "index.html").read_text(), (tree.root / "summary.md").read_text())
    # Nothing changed: the page compares with the older results, which the merge's pass did not.
    assert merge.write_results(two, tree, [], model=True)["model"] is None


def test_the_run_verb_imports_no_numpy_jinja2_or_pyarrow_until_it_judges_or_renders():
    # A warm run judges nothing and renders nothing: those imports were a tenth of its time.
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, harness.cli, harness.workflow as w; r = w.Run.__new__(w.Run); r._skip_report = True; "
            "r.report(); print(sorted(m for m in ('numpy', 'jinja2', 'pyarrow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2]).stdout  # this checkout's harness first
    assert out.strip() == "[]"


def test_the_last_results_read_from_their_parquet_are_the_ones_their_json_holds(tmp_path):
    two, tree, producer, consumer = _dumped(tmp_path)
    plan = _complete(two, tree, producer, consumer)
    with open(tree.results(consumer), "a") as handle:
        handle.write(json.dumps({"key": plan.wanted[0].key, "schema": SCHEMA_VERSION, "status": "crash",
                                 "error": {"type": "Signal", "message": "SIGSEGV"}}) + "\n")
    merge.write_results(two, tree, [])
    from_json = merge._previous(tree.results_json)
    from_parquet = merge._previous(tree.results_json, parquet=tree.results_parquet)
    assert from_json[0] == from_parquet[0] and from_json[1] == from_parquet[1]
    assert sorted(s for s, _ in from_parquet[0].before.values()) == ["crash", "identical"]
    # A parquet file of other results (another run's) is not taken for these.
    header = {"schema": 3, "generated": "another run"}
    from harness.results import file as results_file
    results_file.write_parquet(tree.results_parquet, dict(header, cells=[]))
    assert results_file.parquet_outcomes(tree.results_parquet, from_json[0].generated) is None
    assert merge._previous(tree.results_json, parquet=tree.results_parquet)[0] == from_json[0]

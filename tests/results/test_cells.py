"""Cells: keys, deduplication of identical artifacts, and the append-only results file."""

import json

from harness.results import cells as cells_mod
from harness.inside.schema import SCHEMA_VERSION


def _cell(fmt, sha="a" * 64, estimator="LogisticRegression", key=None):
    return cells_mod.Cell(key or f"{estimator}-{fmt}", "p", estimator, fmt, f"p/{estimator}/m", "p/o.json",
                          sha, "sklearn.X", None, "classification")


def test_identical_pickle_family_artifacts_load_once():
    cells = [_cell("pickle"), _cell("pickle-p5"), _cell("cloudpickle"), _cell("joblib"), _cell("pickle", "b" * 64, "Ridge")]
    groups = cells_mod.dedupe(cells)
    assert [[c.format for c in g] for g in groups] == [["pickle", "pickle-p5", "cloudpickle"], ["joblib"], ["pickle"]]
    groups = cells_mod.dedupe(cells, separate=("cloudpickle",))  # a consumer without cloudpickle
    assert ["cloudpickle"] in [[c.format for c in g] for g in groups]


def test_identical_bytes_on_another_input_load_apart():
    amd = _cell("pickle", key="amd")
    arm = cells_mod.Cell("arm", "p-arm64", amd.estimator, "pickle", "p-arm64/x", "p-arm64/o.json", amd.sha256,
                         amd.cls, None, amd.task)
    assert cells_mod.dedupe([amd, arm], inputs={"amd": "1", "arm": "1"}) == [[amd, arm]]
    assert cells_mod.dedupe([amd, arm], inputs={"amd": "1", "arm": "2"}) == [[amd], [arm]]


def test_a_twin_producers_identical_artifact_is_judged_against_its_own_outputs():
    import base64
    import io

    import numpy as np

    from harness.results import judge

    def npy(values):
        buf = io.BytesIO()
        np.save(buf, np.asarray(values), allow_pickle=False)
        return {"kind": "ok", "npy": base64.b64encode(buf.getvalue()).decode(), "sparse": False}

    amd = _cell("pickle", key="amd")
    arm = cells_mod.Cell("arm", "p-arm64", amd.estimator, "pickle", "p-arm64/x", "p-arm64/o.json", amd.sha256,
                         amd.cls, None, amd.task)
    child = json.dumps({"load": "ok", "warnings": [], "methods": {"predict_proba": npy([0.25, 0.75])}})
    record = {"event": "cell", "i": 0, "key": "amd", "child": child, "outcome": {"exit_code": 0}}

    def outputs(values):
        return {"schema": SCHEMA_VERSION, "task": "classification", "input_sha256": "0" * 64,
                "methods": {"predict_proba": {"dtype": "float64", "shape": [2], "data": values}}}

    # One load's raw outputs, two verdicts: the arm64 producer recorded other predictions.
    assert judge.judge(amd, "c", record, outputs([0.25, 0.75]), (1e-7, 1e-10), 60)["status"] == "identical"
    got = judge.judge(arm, "c", record, outputs([0.25, 0.5]), (1e-7, 1e-10), 60)
    assert (got["status"], got["producer"], got["key"]) == ("mismatch", "p-arm64", "arm")


def test_partial_last_line_is_ignored_then_cut(tmp_path):
    path = tmp_path / "r.jsonl"
    good = json.dumps({"schema": SCHEMA_VERSION, "key": "k1", "status": "identical"})
    path.write_text(good + "\n" + '{"schema": 2, "key": "k2", "sta')
    assert list(cells_mod.read_results(path)) == ["k1"]
    cells_mod.repair_tail(path)
    assert path.read_text() == good + "\n"
    assert cells_mod.count_lines(path) == 1


def test_other_schema_lines_and_duplicates(tmp_path):
    path = tmp_path / "r.jsonl"
    rows = [{"schema": 999, "key": "old"}, {"schema": SCHEMA_VERSION, "key": "k", "status": "crash"},
            {"schema": SCHEMA_VERSION, "key": "k", "status": "identical"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    got = cells_mod.read_results(path)
    assert list(got) == ["k"] and got["k"]["status"] == "identical"  # the last line for a key wins


def test_load_only_code_does_not_change_the_dump_hash():
    from harness.stages import tree as store

    assert store.inside_hash("dump") != store.inside_hash("load")
    assert (store.INSIDE / store.LOAD_ONLY / "__init__.py").exists()


def test_time_left_follows_the_slowest_running_consumer():
    from harness.stages.load import Progress

    progress = Progress(tree=None, envs=(), say=print)
    progress.todo, progress.todo_by_env = 10_000, {"fast": 5_000, "emulated": 5_000}
    done = {"fast": 5_000, "emulated": 1_000}
    # 60 cells/s overall would say about a minute; the emulated consumer alone does 10 a second.
    assert progress._left(done, {"emulated": (0.0, 0), "fast": (0.0, 0)}, 60.0, 100.0) == ", ~7 min left"
    assert progress._left({"fast": 0, "emulated": 0}, {}, 0.0, 1.0) == ""


def test_progress_counts_the_lines_appended_since_it_started_without_reading_the_others(tmp_path, monkeypatch):
    import types

    from harness.stages import load as loads
    from harness.stages.tree import RunTree

    tree = RunTree(tmp_path)
    cells_mod.open_for_append(tree.results("old"))
    tree.results("old").write_text("a\n" * 1000)
    envs = (types.SimpleNamespace(id="old"), types.SimpleNamespace(id="new"))
    counted = []
    real = cells_mod.count_lines
    monkeypatch.setattr(cells_mod, "count_lines", lambda path, start=0: counted.append(start) or real(path, start))
    progress = loads.Progress(tree, envs, say=lambda line: None, every=3600)
    with progress:
        assert counted == []  # a warm run starts and ends without counting a line
        with open(tree.results("old"), "a") as handle:
            handle.write("b\n" * 3)
        assert real(tree.results("old"), progress.base["old"]) == 3 and progress.base["new"] == 0
    assert real(tree.results("old")) == 1003


def test_the_sandbox_record_states_its_sizes():
    from harness.stages.load import sandbox_record

    record = sandbox_record()
    assert record["root file system"] == "read-only, with a 256 MB /tmp in memory"
    assert record["container memory"] == "4 GB"


def test_shards_sharing_a_tree_keep_their_own_tasks_results_and_logs(tmp_path):
    from harness.stages.tree import RunTree

    trees = [RunTree(tmp_path), RunTree(tmp_path, (1, 2)), RunTree(tmp_path, (2, 2))]
    for path in ("tasks", "results", "load_log"):
        assert len({getattr(tree, path)("e") for tree in trees}) == 3, path


def test_a_second_process_on_the_same_consumer_is_refused_before_it_stops_anything(tmp_path):
    import pytest

    from harness.stages import load as loads
    from harness.core.errors import ConcurrentRunError
    from harness.stages.tree import RunTree

    class Env:
        id = "e"

    class Matrix:
        envs = [Env()]

    class Runner:
        stopped = []

        def stop(self, job):
            self.stopped.append(job)

    tree = RunTree(tmp_path)
    with tree.consumer_lock("e"):
        with pytest.raises(ConcurrentRunError) as caught:
            loads.load_all(Runner(), Matrix(), {}, [], tree)
        assert Runner.stopped == []  # the live run's containers survive
        assert caught.value.exit_code == 10 and "--shard" in caught.value.line()
        with RunTree(tmp_path, (1, 2)).consumer_lock("e"):  # another shard's slice is free
            pass
    with tree.consumer_lock("e"):  # released with the first holder
        pass


def test_results_lines_read_in_batches_skip_only_the_lines_that_are_no_record(tmp_path):
    good = [json.dumps({"key": f"k{i}", "schema": SCHEMA_VERSION, "status": "identical"}) for i in range(2500)]
    lines = good[:1200] + ['{"key": "bad", "schema": 2', "1,2", "[" * 100_000] + good[1200:]
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(lines) + "\n")
    got = cells_mod.read_results(path)
    assert sorted(got) == sorted(f"k{i}" for i in range(2500))

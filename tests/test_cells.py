"""Cells: keys, deduplication of identical artifacts, and the append-only results file."""

import json

from harness import cells as cells_mod
from harness.inside.schema import SCHEMA_VERSION


def _cell(fmt, sha="a" * 64, estimator="LogisticRegression", key=None):
    return cells_mod.Cell(key or f"{estimator}-{fmt}", "p", estimator, fmt, f"p/{estimator}/m", "p/o.json",
                          sha, "sklearn.X", None, "classification")


def test_identical_pickle_family_artifacts_load_once():
    cells = [_cell("pickle"), _cell("pickle-p5"), _cell("cloudpickle"), _cell("joblib"), _cell("pickle", "b" * 64, "Ridge")]
    todo, siblings = cells_mod.dedupe(cells)
    assert [c.format for c in todo] == ["pickle", "joblib", "pickle"]
    assert [c.format for c in siblings[todo[0].key]] == ["pickle-p5", "cloudpickle"]
    todo, _ = cells_mod.dedupe(cells, separate=("cloudpickle",))  # a consumer without cloudpickle
    assert "cloudpickle" in [c.format for c in todo]


def test_siblings_get_the_representatives_outcome(tmp_path):
    path = tmp_path / "r.jsonl"
    rep, twin = _cell("pickle"), _cell("cloudpickle")
    path.write_text(json.dumps({"schema": SCHEMA_VERSION, "key": rep.key, "format": "pickle", "status": "identical"}) + "\n")
    assert cells_mod.copy_siblings(path, {rep.key: [twin]}) == 1
    assert cells_mod.copy_siblings(path, {rep.key: [twin]}) == 0  # never twice
    got = cells_mod.read_results(path)
    assert got[twin.key]["status"] == "identical" and got[twin.key]["same_as"] == "None/None/pickle"
    assert got[twin.key]["format"] == "cloudpickle"


def test_a_twin_producers_identical_artifact_keeps_its_own_producer(tmp_path):
    path = tmp_path / "r.jsonl"
    amd = _cell("pickle", key="amd")
    arm = cells_mod.Cell("arm", "p-arm64", amd.estimator, "pickle", "p-arm64/x", "p-arm64/o.json", amd.sha256,
                         amd.cls, None, amd.task)
    todo, siblings = cells_mod.dedupe([amd, arm])
    assert todo == [amd] and siblings == {"amd": [arm]}
    path.write_text(json.dumps({"schema": SCHEMA_VERSION, "key": "amd", "producer": "p", "estimator": amd.estimator,
                                "format": "pickle", "status": "warning"}) + "\n")
    cells_mod.copy_siblings(path, siblings)
    got = cells_mod.read_results(path)["arm"]
    assert (got["producer"], got["format"], got["same_as"]) == ("p-arm64", "pickle", f"p/{amd.estimator}/pickle")


def test_partial_last_line_is_ignored_then_cut(tmp_path):
    path = tmp_path / "r.jsonl"
    good = json.dumps({"schema": SCHEMA_VERSION, "key": "k1", "status": "identical"})
    path.write_text(good + "\n" + '{"schema": 1, "key": "k2", "sta')
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
    from harness import store

    assert store.inside_hash("dump") != store.inside_hash("load")
    assert all((store.INSIDE / name).exists() for name in store.LOAD_ONLY)


def test_time_left_follows_the_slowest_running_consumer():
    from harness.loads import Progress

    progress = Progress(tree=None, envs=(), say=print)
    progress.todo, progress.todo_by_env = 10_000, {"fast": 5_000, "emulated": 5_000}
    done = {"fast": 5_000, "emulated": 1_000}
    # 60 cells/s overall would say about a minute; the emulated consumer alone does 10 a second.
    assert progress._left(done, {"emulated": (0.0, 0), "fast": (0.0, 0)}, 60.0, 100.0) == ", ~7 min left"
    assert progress._left({"fast": 0, "emulated": 0}, {}, 0.0, 1.0) == ""


def test_shards_sharing_a_tree_keep_their_own_tasks_results_and_logs(tmp_path):
    from harness.store import RunTree

    trees = [RunTree(tmp_path), RunTree(tmp_path, (1, 2)), RunTree(tmp_path, (2, 2))]
    for path in ("tasks", "results", "load_log"):
        assert len({getattr(tree, path)("e") for tree in trees}) == 3, path


def test_a_second_process_on_the_same_consumer_is_refused_before_it_stops_anything(tmp_path):
    import pytest

    from harness import loads
    from harness.errors import ConcurrentRunError
    from harness.store import RunTree

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

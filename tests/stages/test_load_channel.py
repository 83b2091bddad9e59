"""The host's side of the load channel: only the next task's key is accepted, and a loader that
dies, lies or falls silent costs the cell it was on while a new loader takes the rest."""

import base64
import hashlib
import io
import json
import threading
from types import SimpleNamespace

import numpy as np

from harness.results import cells as cells_mod
from harness.stages import load as loads
from harness.inside.schema import SCHEMA_VERSION, Status
from harness.config.matrix import Tolerance
from harness.stages.tree import RunTree


def _npy(values):
    buf = io.BytesIO()
    np.save(buf, np.asarray(values), allow_pickle=False)
    return {"kind": "ok", "npy": base64.b64encode(buf.getvalue()).decode(), "sparse": False}


class FakeStream:
    """A loader that says the given lines, then ends (or waits to be killed: hang=True)."""

    def __init__(self, lines, hang=False, code=0):
        self.lines, self.hang, self.code = lines, hang, code
        self.killed = threading.Event()

    def chunks(self):
        for line in self.lines:
            yield (line if isinstance(line, bytes) else json.dumps(line).encode()) + b"\n"
        if self.hang:
            self.killed.wait(30)

    def kill(self):
        self.killed.set()

    def finish(self):
        return self.code, "inside.load: last words\n"


class FakeRunner:
    """Hands out one scripted stream per loader start, and keeps each task file it was given."""

    backend = "fake"

    def __init__(self, scripts):
        self.scripts, self.tasks = list(scripts), []

    def start(self, built, module, args, mounts, limits=None, job=None):
        self.tasks.append(json.loads(mounts["tasks"][0].read_text()))
        return self.scripts.pop(0)(self.tasks[-1]["cells"])


def _setup(tmp_path, n=3):
    tree = RunTree(tmp_path / "run")
    folder = tree.artifacts("p")
    folder.mkdir(parents=True)
    outputs = {"schema": SCHEMA_VERSION, "task": "classification", "input_sha256": "1" * 64,
               "methods": {"predict": {"dtype": "int64", "shape": [2], "data": [0, 1]}}}
    (folder / "o.json").write_text(json.dumps(outputs))
    digest = hashlib.sha256((folder / "o.json").read_bytes()).hexdigest()
    cells = [cells_mod.Cell(f"k{i}", "p", f"E{i}", "pickle", f"p/m{i}.pkl", "p/o.json", str(i) * 64, "sklearn.X",
                            None, "classification", digest) for i in range(n)]
    matrix = SimpleNamespace(tolerance_for=lambda fmt: Tolerance(1e-7, 1e-10))
    env = SimpleNamespace(id="c")
    built = SimpleNamespace(ok=True, runtime={}, tag="t", error="")
    return tree, cells, matrix, env, built


def _answer(task, i, values=(0, 1)):
    child = json.dumps({"load": "ok", "warnings": [], "methods": {"predict": _npy(list(values))}})
    return {"event": "cell", "i": i, "key": task["key"], "child": child, "outcome": {"exit_code": 0}}


READY = {"event": "ready"}


def _load(tmp_path, scripts, n=3, **kwargs):
    tree, cells, matrix, env, built = _setup(tmp_path, n)
    runner = FakeRunner(scripts)
    plan = loads.Plan(tuple(cells), 0, tuple(cells))
    result = loads.load_env(runner, matrix, env, built, plan, tree, **kwargs)
    return result, cells_mod.read_results(tree.results("c")), runner


def test_a_loader_that_dies_costs_its_cell_and_a_new_one_takes_the_rest(tmp_path):
    scripts = [lambda t: FakeStream([READY, _answer(t[0], 0)], code=0),  # exit 0 with cells left
               lambda t: FakeStream([READY, _answer(t[0], 0), {"event": "done"}])]
    result, got, runner = _load(tmp_path, scripts)
    assert result.ok and result.computed == 3
    assert got["k0"]["status"] == Status.IDENTICAL and got["k2"]["status"] == Status.IDENTICAL
    assert got["k1"]["status"] == Status.CRASH and got["k1"]["error"]["type"] == "LoaderDied"
    assert "last words" in got["k1"]["error"]["message"]
    assert [c["key"] for c in runner.tasks[1]["cells"]] == ["k2"]  # never handed k1 again


def test_a_record_for_another_cell_is_refused(tmp_path):
    def liar(tasks):
        forged = _answer(tasks[1], 0)  # names cell 1 while on cell 0
        return FakeStream([READY, forged, _answer(tasks[1], 1)])

    scripts = [liar, lambda t: FakeStream([READY] + [_answer(x, i) for i, x in enumerate(t)])]
    result, got, _ = _load(tmp_path, scripts)
    assert result.ok
    assert got["k0"]["status"] == Status.CRASH and "out of turn" in got["k0"]["error"]["message"]
    assert got["k1"]["status"] == got["k2"]["status"] == Status.IDENTICAL


def test_a_broken_line_cuts_the_channel(tmp_path):
    scripts = [lambda t: FakeStream([READY, b"{not json"]),
               lambda t: FakeStream([READY] + [_answer(x, i) for i, x in enumerate(t)])]
    result, got, _ = _load(tmp_path, scripts)
    assert got["k0"]["status"] == Status.CRASH and "not a record" in got["k0"]["error"]["message"]
    assert result.ok and got["k2"]["status"] == Status.IDENTICAL


def test_a_silent_loader_is_stopped_after_the_cell_timeout_and_grace(tmp_path, monkeypatch):
    monkeypatch.setattr(loads, "GRACE", 1)
    scripts = [lambda t: FakeStream([READY, _answer(t[0], 0)], hang=True),
               lambda t: FakeStream([READY] + [_answer(x, i) for i, x in enumerate(t)])]
    result, got, _ = _load(tmp_path, scripts, cell_timeout=1)
    assert got["k1"]["status"] == Status.CRASH and "said nothing for 2 s" in got["k1"]["error"]["message"]
    assert result.ok and got["k2"]["status"] == Status.IDENTICAL


def test_a_loader_that_never_starts_fails_the_consumer_and_blames_no_cell(tmp_path):
    result, got, _ = _load(tmp_path, [lambda t: FakeStream([], code=1)])
    assert not result.ok and "before its first cell" in result.error
    assert got == {}


def test_identity_comes_from_the_task_never_from_the_child(tmp_path):
    def claims(tasks):
        rec = _answer(tasks[0], 0)
        child = json.loads(rec["child"])
        child.update(key="k2", producer="elsewhere", status="identical", consumer="x")
        rec["child"] = json.dumps(child)
        return FakeStream([READY, rec] + [_answer(x, i) for i, x in enumerate(tasks) if i])

    result, got, _ = _load(tmp_path, [claims])
    assert result.ok and got["k0"]["producer"] == "p" and got["k0"]["consumer"] == "c"
    assert sorted(got) == ["k0", "k1", "k2"]


def test_each_identical_artifact_is_judged_against_its_own_producer(tmp_path):
    tree, cells, matrix, env, built = _setup(tmp_path, 1)
    twin_dir = tree.artifacts("p-arm64")
    twin_dir.mkdir(parents=True)
    other = {"schema": SCHEMA_VERSION, "task": "classification", "input_sha256": "1" * 64,
             "methods": {"predict": {"dtype": "int64", "shape": [2], "data": [1, 1]}}}
    (twin_dir / "o.json").write_text(json.dumps(other))
    twin = cells_mod.Cell("twin", "p-arm64", "E0", "cloudpickle", "p-arm64/m.pkl", "p-arm64/o.json", cells[0].sha256,
                          "sklearn.X", None, "classification",
                          hashlib.sha256((twin_dir / "o.json").read_bytes()).hexdigest())
    runner = FakeRunner([lambda t: FakeStream([READY, dict(_answer(t[0], 0), seconds=0.25)])])
    plan = loads.Plan((cells[0], twin), 0, (cells[0], twin))
    assert loads.load_env(runner, matrix, env, built, plan, tree).ok
    assert len(runner.tasks[0]["cells"]) == 1  # loaded once
    got = cells_mod.read_results(tree.results("c"))
    assert got["k0"]["status"] == Status.IDENTICAL and got["twin"]["status"] == Status.MISMATCH
    # The loader's time is the load's: on one line of the group, so that sums count it once.
    assert [line.get("seconds") for line in (got["k0"], got["twin"])] == [0.25, None]


class AnsweringRunner(FakeRunner):
    """Answers every cell it is handed, slowly, and remembers which job each loader ran as."""

    def __init__(self):
        FakeRunner.__init__(self, [])
        self.jobs, self.lock = [], threading.Lock()

    def start(self, built, module, args, mounts, limits=None, job=None):
        with self.lock:
            self.jobs.append(str(job))
            cells = json.loads(mounts["tasks"][0].read_text())["cells"]
        answers = [READY] + [_answer(task, i) for i, task in enumerate(cells)]
        return SlowStream(answers)


class SlowStream(FakeStream):
    def chunks(self):
        for chunk in FakeStream.chunks(self):
            self.killed.wait(0.05)
            yield chunk


def test_an_idle_slot_helps_an_emulated_consumer_and_every_cell_is_judged_once(tmp_path, monkeypatch):
    monkeypatch.setattr(loads, "EMULATED_BATCH", 2)
    monkeypatch.setattr(loads, "HELP_POLL", 0.01)
    tree, cells, matrix, env, built = _setup(tmp_path, 8)
    runner, helpers, stop = AnsweringRunner(), loads.Helpers(), threading.Event()
    helper = threading.Thread(target=helpers.help, args=(1, stop))
    helper.start()
    try:
        result = loads.load_env(runner, matrix, env, built, loads.Plan(tuple(cells), 0, tuple(cells)), tree,
                                emulated=True, helpers=helpers)
    finally:
        stop.set()
        helper.join()
    got = cells_mod.read_results(tree.results("c"))
    assert result.ok and result.computed == 8 and sorted(got) == [f"k{i}" for i in range(8)]
    assert all(line["status"] == Status.IDENTICAL for line in got.values())
    assert cells_mod.count_lines(tree.results("c")) == 8  # no cell judged twice
    assert {job.endswith("#part1") for job in runner.jobs} == {True, False}  # both loaders worked
    assert len(runner.jobs) == 4  # 8 cells in batches of 2


def test_a_native_consumer_runs_in_one_loader_even_with_helpers(tmp_path):
    tree, cells, matrix, env, built = _setup(tmp_path, 5)
    runner, helpers = AnsweringRunner(), loads.Helpers()
    result = loads.load_env(runner, matrix, env, built, loads.Plan(tuple(cells), 0, tuple(cells)), tree,
                            helpers=helpers)
    assert result.ok and result.computed == 5 and len(runner.jobs) == 1

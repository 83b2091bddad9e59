"""Tests of the inside loader: real dumps, hostile pickles, results file, cross-version loading.

Artifacts are never unpickled in this process: every load runs `python -m harness.inside.load`
(or the old venv's `-m inside.load`) as a subprocess. Hostile pickles are only built here.
"""

import ctypes
import fcntl
import hashlib
import json
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from harness.inside.schema import SCHEMA_VERSION

REPO = Path(__file__).resolve().parents[2]

pytest.importorskip("sklearn")

ESTIMATORS = "LogisticRegression,StandardScaler,KMeans,ColumnTransformer-names"
FORMATS = "pickle,joblib-z,skops,onnx"
TOLERANCES = {"default": {"rtol": 1e-7, "atol": 1e-10}, "onnx": {"rtol": 1e-4, "atol": 1e-5}}


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def dump(python, out, producer, estimators, formats, pythonpath):
    """Run the inside dump in a subprocess; returns its manifest."""
    env = dict(os.environ, PYTHONPATH=str(pythonpath))
    module = "harness.inside.dump" if pythonpath == REPO else "inside.dump"
    subprocess.run([str(python), "-m", module, "--out", str(out), "--producer", producer,
                    "--estimators", estimators, "--formats", formats],
                   check=True, env=env, capture_output=True, cwd=str(out.parent))
    return json.loads((out / "manifest.json").read_text())


def cells_of(artdir, producer):
    """Every ok artifact of a dump as task cells, keyed producer/estimator/format."""
    manifest = json.loads((artdir / producer / "manifest.json").read_text())
    out = {}
    for rec in manifest["estimators"]:
        for fmt, f in rec["formats"].items():
            if f["status"] == "ok":
                out["%s/%s" % (rec["name"], fmt)] = {
                    "key": "%s/%s/%s" % (producer, rec["name"], fmt), "producer": producer,
                    "estimator": rec["name"], "format": fmt, "file": producer + "/" + f["file"],
                    "outputs": producer + "/" + rec["outputs"]["file"], "sha256": f["sha256"],
                    "class": rec["class"], "untrusted": f.get("untrusted_types"),
                    "task": rec["task"]}
    return out


def _cell(task):
    """The host's Cell of a task dict of cells_of."""
    from harness.results.cells import Cell
    return Cell(task["key"], task["producer"], task["estimator"], task["format"], task["file"],
                task["outputs"], task["sha256"], task["class"], None, task["task"])


def run_load(tmp_path, artdir, cells, python=sys.executable, timeout=30, memory=None,
             env_extra=None, name="results", args=()):
    """Run the loader as a subprocess and judge its records as the host does;
    (process, {key: line}, lines in channel order)."""
    from harness.results import judge
    from harness.stages import trust

    outputs = dict((c["outputs"], json.loads((artdir / c["outputs"]).read_text())) for c in cells)
    tasks = tmp_path / ("tasks-%s.json" % name)
    tasks.write_text(json.dumps(dict(trust.policy(), schema=SCHEMA_VERSION, consumer="c-test", cells=[
        _cell(c).to_task(outputs[c["outputs"]]["input_sha256"]) for c in cells])))
    if str(python) == sys.executable:
        cmd, pythonpath = [sys.executable, "-m", "harness.inside.load"], REPO
    else:
        cmd, pythonpath = [str(python), "-m", "inside.load"], REPO / "harness"
    cmd += ["--tasks", str(tasks), "--artifacts", str(artdir), "--timeout", str(timeout)]
    if memory:
        cmd += ["--memory", str(memory)]
    cmd += list(args)
    env = dict(os.environ, PYTHONPATH=str(pythonpath))
    env.update(env_extra or {})
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    records = [json.loads(x) for x in proc.stdout.splitlines()]
    assert records and records[0]["event"] == "ready", proc.stderr
    lines = []
    for rec in records:
        if rec.get("event") == "cell":
            cell = cells[rec["i"]]
            tol = TOLERANCES.get(cell["format"], TOLERANCES["default"])
            line = judge.judge(_cell(cell), "c-test", rec, outputs[cell["outputs"]],
                               (tol["rtol"], tol["atol"]), timeout)
            line["seconds"] = rec["seconds"]
            lines.append(line)
    return proc, dict((r["key"], r) for r in lines), lines


@pytest.fixture(scope="session")
def shared_dump(tmp_path_factory):
    """A small dump of this environment, made once for all xdist workers of this run."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # this session's folder, shared by its workers
    root = root / "inside-load-dump"
    root.mkdir(exist_ok=True)
    with open(root / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / "p-new" / "manifest.json").exists():
            dump(sys.executable, root / "p-new", "p-new", ESTIMATORS, FORMATS, REPO)
    return root / "p-new"


@pytest.fixture
def artdir(shared_dump, tmp_path):
    """This test's artifacts folder: the shared dump as p-new, room for more beside it."""
    root = tmp_path / "art"
    root.mkdir()
    (root / "p-new").symlink_to(shared_dump)
    return root


# Hostile payloads: built with __reduce__ here, only ever loaded by the child processes.
class Reduce(object):
    """Pickles as a call of func(*args)."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


FORK_BOMB = "import os, time\nfor _ in range(5):\n    os.fork()\ntime.sleep(600)\n"
HOSTILE = {
    "segfault": Reduce(ctypes.string_at, 0),
    "hang": Reduce(time.sleep, 600),
    "memory": Reduce(bytearray, 8 << 30),
    "forkbomb": Reduce(exec, FORK_BOMB),  # 32 sleepers, bounded for a 2-core machine
}


def hostile_cell(artdir, template, name, data):
    """A pickle cell for these bytes, borrowing the template's outputs and class."""
    path = artdir / "hostile" / ("%s.pkl" % name)
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    return dict(template, key="hostile/%s" % name, estimator=name, file="hostile/%s.pkl" % name,
                sha256=sha256(path), format="pickle")


def leftover_processes(marker):
    """Pids whose command line mentions marker (forked children keep the parent's)."""
    found = []
    for pid in os.listdir("/proc"):
        try:
            cmdline = Path("/proc", pid, "cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if pid.isdigit() and marker.encode() in cmdline and int(pid) != os.getpid():
            found.append(int(pid))
    return found


def test_control_cells_are_identical(artdir, tmp_path):
    cells = list(cells_of(artdir, "p-new").values())
    proc, by_key, lines = run_load(tmp_path, artdir, cells)
    assert proc.returncode == 0, proc.stderr
    assert [r["key"] for r in lines] == [c["key"] for c in cells]
    for key, rec in by_key.items():
        expected = "close" if key.endswith("/onnx") else "identical"
        assert rec["status"] == expected, (key, rec["error"], {
            c: m for c, m in rec["methods"].items() if m["status"] not in ("identical", "close")})
        assert rec["schema"] == SCHEMA_VERSION and rec["consumer"] == "c-test" and rec["error"] is None
        assert rec["exit_code"] == 0 and rec["signal"] is None and rec["seconds"] > 0
    assert by_key["p-new/LogisticRegression/skops"]["untrusted"] == []  # nothing beyond skops' defaults
    onnx = by_key["p-new/LogisticRegression/onnx"]["methods"]
    assert onnx["predict"]["status"] == "identical" and onnx["predict_proba"]["status"] == "close"
    assert onnx["decision_function"]["status"] == "missing"  # no such ONNX output: no finding
    assert "inside.load: %d/%d cells" % (len(cells), len(cells)) in proc.stderr


def test_hostile_cells_end_alone(artdir, tmp_path):
    ok = cells_of(artdir, "p-new")
    template = ok["LogisticRegression/pickle"]
    real = (artdir / template["file"]).read_bytes()
    hostile = dict((n, hostile_cell(artdir, template, n, pickle.dumps(obj)))
                   for n, obj in HOSTILE.items())
    hostile["truncated"] = hostile_cell(artdir, template, "truncated", real[:len(real) // 2])
    hostile["changed"] = dict(ok["StandardScaler/joblib-z"], key="hostile/changed",
                              sha256="0" * 64)
    moved = b"\x80\x04csklearn.linear_model._gone\nLogisticRegression\n)\x81."
    hostile["moved"] = hostile_cell(artdir, template, "moved", moved)
    controls = [ok[k] for k in ("LogisticRegression/pickle", "KMeans/joblib-z",
                                "StandardScaler/pickle", "LogisticRegression/skops",
                                "KMeans/pickle", "StandardScaler/skops", "KMeans/skops",
                                "LogisticRegression/joblib-z")]
    cells = []
    for i, cell in enumerate(hostile.values()):  # every hostile cell between ordinary ones
        cells += [controls[i % len(controls)], cell]
    cells.append(controls[0])
    start = time.time()
    proc, by_key, lines = run_load(tmp_path, artdir, cells, timeout=3, memory=1 << 30)
    assert proc.returncode == 0, proc.stderr
    assert time.time() - start < 40
    assert len(lines) == len(cells)  # one line per cell, ordinary ones included
    for cell, rec in zip(cells, lines):
        assert rec["key"] == cell["key"]
        if cell in controls:
            assert rec["status"] == "identical", rec
    status = dict((n, by_key[c["key"]]) for n, c in hostile.items())
    assert status["segfault"]["status"] == "crash"
    assert status["segfault"]["signal"] == signal.SIGSEGV
    assert status["segfault"]["error"]["type"] == "SIGSEGV"
    assert "Segmentation fault" in status["segfault"]["error"]["message"]
    assert status["hang"]["status"] == "timeout" and status["hang"]["seconds"] < 6
    assert status["memory"]["status"] == "crash"
    assert status["memory"]["error"]["type"] == "MemoryError"
    assert status["forkbomb"]["status"] == "timeout"
    assert status["truncated"]["status"] == "load-error"
    assert status["changed"]["status"] == "load-error"
    assert "artifact changed since dump" in status["changed"]["error"]["message"]
    assert status["moved"]["status"] == "load-error"  # the class exists: not n/a
    assert status["moved"]["error"]["type"] == "ModuleNotFoundError"
    # The hang and the fork bomb were killed with their whole process group.
    time.sleep(0.5)
    assert leftover_processes(str(tmp_path)) == []


def test_not_applicable_before_loading(artdir, tmp_path):
    ok = cells_of(artdir, "p-new")
    gone = dict(ok["StandardScaler/pickle"], key="p-new/Gone/pickle",
                **{"class": "sklearn.preprocessing._gone.NoSuchScaler"})
    cells = [gone, ok["KMeans/onnx"], ok["KMeans/pickle"]]
    # An onnxruntime that cannot be imported, as in an image without it.
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "onnxruntime.py").write_text("raise ImportError('not here')\n")
    env = {"PYTHONPATH": "%s%s%s" % (shim, os.pathsep, REPO)}
    proc, by_key, _ = run_load(tmp_path, artdir, cells, env_extra=env)
    assert proc.returncode == 0, proc.stderr
    assert by_key["p-new/Gone/pickle"]["status"] == "n/a", by_key["p-new/Gone/pickle"]
    assert "NoSuchScaler" in by_key["p-new/Gone/pickle"]["error"]["message"]
    assert by_key["p-new/KMeans/onnx"]["status"] == "n/a"
    assert "onnxruntime is not installed" in by_key["p-new/KMeans/onnx"]["error"]["message"]
    assert by_key["p-new/KMeans/pickle"]["status"] == "identical"


def test_dataframe_cells_load_and_are_na_where_pandas_is_missing(artdir, tmp_path):
    pytest.importorskip("pandas")
    ok = cells_of(artdir, "p-new")
    cells = [ok["ColumnTransformer-names/pickle"], ok["ColumnTransformer-names/skops"],
             ok["StandardScaler/pickle"]]
    assert cells[0]["task"] == "mixed-frame"
    proc, by_key, _ = run_load(tmp_path, artdir, cells)
    assert proc.returncode == 0, proc.stderr
    assert by_key["p-new/ColumnTransformer-names/pickle"]["status"] == "identical"
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "pandas.py").write_text("raise ImportError('not here')\n")
    env = {"PYTHONPATH": "%s%s%s" % (shim, os.pathsep, REPO)}
    proc, by_key, _ = run_load(tmp_path, artdir, cells, env_extra=env, name="no-pandas")
    assert proc.returncode == 0, proc.stderr
    gone = by_key["p-new/ColumnTransformer-names/pickle"]
    assert gone["status"] == "n/a" and "pandas does not import here" in gone["error"]["message"], gone
    assert by_key["p-new/StandardScaler/pickle"]["status"] == "identical"


def test_bad_tasks_and_usage_exit_2(tmp_path):
    tasks = tmp_path / "tasks.json"
    tasks.write_text(json.dumps({"schema": 99, "cells": []}))
    cmd = [sys.executable, "-m", "harness.inside.load", "--artifacts", str(tmp_path)]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    bad = subprocess.run(cmd + ["--tasks", str(tasks)], env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "schema 99" in bad.stderr
    usage = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert usage.returncode == 2 and "--tasks" in usage.stderr


@pytest.fixture(scope="module")
def old_venv():
    """The oldest default environment (Python 3.9, scikit-learn 0.24.2) as a venv from the
    project's own wheelhouse: the inside code must run there."""
    from harness.config import matrix
    from harness.workflow import build_stage

    from conftest import exclusive

    m = matrix.load(REPO / "matrix.toml", "default")
    oldest = [e for e in m.envs if e.id == "skl0.24.2-py3.9-np1-amd64"]
    with exclusive("venv-oldest"):
        _, built = build_stage(type(m)(**dict(m.__dict__, envs=tuple(oldest))), backend="venv")
    if not built or not built[0].ok:
        why = built[0].error if built else "not in the default matrix"
        if os.environ.get("SKLMATRIX_REQUIRE_ENGINE") == "1":
            pytest.fail("the oldest environment's venv cannot be built: %s" % why)
        pytest.skip("the oldest environment's venv cannot be built: %s" % why)
    return Path(built[0].tag) / "bin" / "python"


def test_old_dump_loads_here_with_version_warnings(tmp_path, old_venv):
    OLD_VENV = old_venv
    artdir = tmp_path / "art"
    artdir.mkdir()
    dump(OLD_VENV, artdir / "p-old", "p-old", "LogisticRegression,StandardScaler",
         "pickle,joblib", REPO / "harness")
    cells = list(cells_of(artdir, "p-old").values())
    # Control: the old environment (Python 3.9, scikit-learn 0.24) reads its own dump.
    proc, by_key, _ = run_load(tmp_path, artdir, cells, python=OLD_VENV, name="old.jsonl")
    assert proc.returncode == 0, proc.stderr
    # A single row goes through BLAS's vector kernels, which depend on the input's alignment: its
    # calls may come out 1 ulp apart between the dump and a reload (close), as the controls allow.
    assert set(r["status"] for r in by_key.values()) <= {"identical", "close"}
    proc, by_key, _ = run_load(tmp_path, artdir, cells, name="new.jsonl")
    assert proc.returncode == 0, proc.stderr
    for rec in by_key.values():
        assert rec["status"] in ("warning", "identical"), (rec["key"], {
            c: m for c, m in rec["methods"].items() if m["status"] != "identical"})
        versions = [w["original_version"] for w in rec["warnings"]
                    if w["category"] == "InconsistentVersionWarning"]
        assert versions == ["0.24.2"], rec["warnings"]


def test_an_optional_import_that_crashes_is_probed_in_a_child(tmp_path):
    # onnxruntime's aarch64 build segfaults on import under qemu-user: the loader must survive it.
    (tmp_path / "crashy.py").write_text("import ctypes\nctypes.string_at(0)\n")
    code = ("import sys; sys.path.insert(0, %r); from harness.inside.load import isolate; "
            "print(isolate.probe_import('crashy'), isolate.probe_import('json'), isolate.BROKEN)" % str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False True {'crashy': 'import crashy crashes this environment (SIGSEGV)'}"


def test_skops_trusts_exact_types_never_callables():
    from harness.stages import trust

    policy = trust.policy()
    assert "sklearn.tree._tree.Tree" in policy["skops_trusted"]
    assert not [t for t in policy["skops_trusted"] if t.startswith(("builtins.eval", "posix.", "os."))]
    assert "numpy.log1p" not in policy["skops_trusted"]  # a function: never trusted
    assert all(not m.startswith(("os", "posix", "builtins", "subprocess")) for m in policy["preload"])


def test_the_fitted_state_digest_names_what_changed():
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from harness.results import judge
    from harness.inside import state

    X = np.arange(40, dtype=float).reshape(20, 2) % 7
    est = LogisticRegression().fit(X, (X[:, 0] > 3).astype(int))
    before = state.digest(est)
    assert before["coef_"]["dtype"] == "float64" and before["coef_"]["shape"] == [1, 2]
    assert judge.state_diff(before, state.digest(pickle.loads(pickle.dumps(est)))) is None
    est.coef_ = est.coef_.astype(np.float32)
    del est.n_iter_
    est.new_ = 1
    diff = judge.state_diff(before, state.digest(est))
    assert diff["missing"] == ["n_iter_"] and diff["added"] == ["new_"]
    assert diff["changed"] == [["coef_", "dtype float64 -> float32"]]


def test_the_state_digest_reads_numpy_scalars_by_value():
    import numpy as np

    from harness.inside import state

    class Est(object):
        def get_params(self):
            return {}

    a, b = Est(), Est()
    a.n_classes_, b.n_classes_ = np.int64(3), 3  # numpy 1 and 2 write these two differently
    assert state.digest(a)["n_classes_"]["hash"] == state.digest(b)["n_classes_"]["hash"]


def _records(proc):
    """(the ready record, {key: what the child returned and how it ended}) of a loader's run."""
    records = [json.loads(x) for x in proc.stdout.splitlines()]
    cells = {}
    for rec in records:
        if rec.get("event") == "cell":
            cells[rec["key"]] = (json.loads(rec["child"]) if rec["child"] else None, rec["na"], rec["error"],
                                 rec["outcome"], rec["log"] if rec["child"] is None else None)
    return records[0], cells


def test_the_rehearsal_changes_no_cell(artdir, tmp_path, old_venv):
    # The old dump gives version warnings, numpy 1 pickles and old joblib files: what a warm parent
    # must not hide from a child.
    dump(old_venv, artdir / "p-old", "p-old", "LogisticRegression,StandardScaler,KMeans", "pickle,joblib,cloudpickle",
         REPO / "harness")
    cells = list(cells_of(artdir, "p-new").values()) + list(cells_of(artdir, "p-old").values())
    for python, name in ((sys.executable, "here"), (old_venv, "oldest")):
        runs = {}
        for args in ((), ("--no-rehearsal",)):
            proc, _, _ = run_load(tmp_path, artdir, cells, python=python, args=args, name="%s%s" % (name, args))
            assert proc.returncode == 0, proc.stderr
            runs[args] = _records(proc)
        ready, rehearsed = runs[()]
        assert ready["rehearsal"]["done"] is True and ready["rehearsal"]["cells"] >= 4, ready
        assert runs[("--no-rehearsal",)][0]["rehearsal"] == {"done": False, "why": "--no-rehearsal"}
        assert len(rehearsed) == len(cells)
        assert rehearsed == runs[("--no-rehearsal",)][1], name
        if name == "here":
            statuses = [c[0]["load"] for c in rehearsed.values() if c[0]]
            assert statuses.count("ok") >= 10 and any(c[0]["warnings"] for c in rehearsed.values() if c[0])


def _rehearse_with(monkeypatch, play):
    from harness.inside.load import rehearsal
    monkeypatch.setattr(rehearsal, "_play", play)
    with tempfile.TemporaryFile() as log:
        return rehearsal.rehearse(None, frozenset(), 60, 0, log.fileno(), False)


def test_a_rehearsal_that_would_import_an_installed_module_is_not_played(tmp_path, monkeypatch):
    (tmp_path / "sklmatrix_not_yet_imported.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    def play(evaluate, trusted):
        import sklmatrix_not_yet_imported  # noqa: F401 - what a cell's load could import first
        return 1

    got = _rehearse_with(monkeypatch, play)
    assert got == {"done": False, "why": "it would import sklmatrix_not_yet_imported"}
    assert "sklmatrix_not_yet_imported" not in sys.modules


def test_the_rehearsal_leaves_the_random_generators_as_they_were(monkeypatch):
    import random

    import numpy as np

    def play(evaluate, trusted):
        np.random.rand(3)
        random.random()
        import json  # noqa: F401 - the standard library may be imported
        return 2

    np.random.seed(5)
    random.seed(5)
    expected = (np.random.rand(), random.random())
    np.random.seed(5)
    random.seed(5)
    got = _rehearse_with(monkeypatch, play)
    assert got["done"] is True and got["cells"] == 2, got
    assert (np.random.rand(), random.random()) == expected

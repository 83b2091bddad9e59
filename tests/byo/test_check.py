"""`python -m harness check FILE`: inspection on the host without running the file, and the file
loaded in real consumers' sandboxes, judged against a reference, hostile files included."""

import io
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from conftest import DATA, REPO, exclusive
from harness.byo import check, inspection
from harness.config import matrix
from harness.core.errors import SelectionError
from harness.workflow import Run

sklearn = pytest.importorskip("sklearn")


def _fitted():
    from sklearn.linear_model import LogisticRegression

    X = np.arange(40, dtype=float).reshape(20, 2) % 7
    return LogisticRegression().fit(X, (X[:, 0] > 3).astype(int))


def test_inspection_reads_format_classes_and_version_without_running(tmp_path):
    import joblib
    import skops.io as sio

    est = _fitted()
    files = {"a.bin": pickle.dumps(est, protocol=4), "b.bin": pickle.dumps(est, protocol=5)}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    joblib.dump(est, tmp_path / "c.bin", compress=3)
    (tmp_path / "d.bin").write_bytes(sio.dumps(est))
    found = {n: inspection.inspect(tmp_path / n) for n in ("a.bin", "b.bin", "c.bin", "d.bin")}
    assert [found[n]["format"] for n in sorted(found)] == ["pickle", "pickle-p5", "joblib-z", "skops"]
    for info in found.values():
        assert info["sklearn_versions"] == [sklearn.__version__], info
        assert "sklearn.linear_model._logistic.LogisticRegression" in info["classes"]
    # A pickle whose reduce would run code: inspection names it and never runs it.
    hostile = tmp_path / "e.bin"
    hostile.write_bytes(b"\x80\x04\x95\x1d\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94\x8c\x06system\x94\x93\x94"
                        b"\x8c\x05touch\x94\x85\x94R\x94.")
    info = inspection.inspect(hostile)
    assert "os.system" in info["classes"] and "os.system" in info["untrusted"]
    with pytest.raises(inspection.NotAModel):
        inspection.inspect(DATA / "two-envs.toml")


def test_inspect_on_the_command_line_needs_no_engine(tmp_path):
    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps(_fitted()))
    env = dict(os.environ, DOCKER_HOST="unix:///nonexistent.sock")
    proc = subprocess.run([sys.executable, "-m", "harness", "check", "--inspect", "--json", str(path)],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["sklearn_versions"] == [sklearn.__version__]
    proc = subprocess.run([sys.executable, "-m", "harness", "check", "--inspect", str(DATA / "two-envs.toml")],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert proc.returncode == 3 and "not a pickle" in proc.stderr


def test_samples_are_read_without_pickle(tmp_path):
    csv = tmp_path / "x.csv"
    csv.write_text("a,b\n1,2\n3,4.5\n")
    arr = np.lib.format.read_array(io.BytesIO(check.read_sample(csv)), allow_pickle=False)
    assert arr.tolist() == [[1.0, 2.0], [3.0, 4.5]]
    npy = tmp_path / "x.npy"
    np.save(npy, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(check.SampleError, match="object arrays need pickle"):
        check.read_sample(npy)


def test_the_reference_is_the_recorded_version_or_the_named_one():
    envs = matrix.load(DATA / "two-envs.toml", "two").envs
    ref, why = check.choose_reference(envs, ["1.6.1"])
    assert ref.sklearn == "1.6.1" and "records" in why
    assert check.choose_reference(envs, ["0.24.2"])[0] is None
    assert check.choose_reference(envs, [], envs[0].id)[0] == envs[0]
    with pytest.raises(SelectionError):
        check.choose_reference(envs, [], "skl9-py3.11-np1-amd64")


@pytest.mark.container
def test_check_loads_a_file_everywhere_and_a_hostile_one_fails_alone(docker_client, tmp_path):
    run = Run(matrix.load(DATA / "two-envs.toml", "two"), backend="docker", reports=tmp_path / "reports")
    with exclusive("build-two-envs"):
        run.dump()  # the producer's own file: the 1.3.2 environment's LogisticRegression
    old = run.tree.artifacts("skl1.3.2-py3.11-np1-amd64") / "LogisticRegression" / "model.pkl"
    mine = tmp_path / "model.pkl"
    mine.write_bytes(old.read_bytes())
    hostile = tmp_path / "hostile.pkl"
    hostile.write_bytes(pickle.dumps(type("H", (), {"__reduce__": lambda s: (os._exit, (7,))})()))
    sample = tmp_path / "rows.csv"
    sample.write_text("x0,x1,x2,x3,x4,x5,x6,x7\n" + "\n".join(",".join(str((i * 7 + j) % 11 - 5) for j in range(8))
                                                             for i in range(6)) + "\n")
    results, tree = check.check_files(run, [mine, hostile], list(run.matrix.envs), sample=sample,
                                      reports=tmp_path / "reports")
    good, bad = results
    assert good.reference == "skl1.3.2-py3.11-np1-amd64"
    statuses = {c["consumer"]: c["status"] for c in good.consumers}
    assert statuses["skl1.3.2-py3.11-np1-amd64"] == "identical"  # the reference against itself
    assert statuses["skl1.6.1-py3.11-np2-amd64"] in ("identical", "close", "warning"), good.consumers
    assert good.passed and "predict" in good.consumers[0]["grid"]
    assert not bad.passed and {c["status"] for c in bad.consumers} == {"crash"}, bad.consumers
    assert json.loads((tree.root / "check.json").read_text())["passed"] is False
    check.write_html(results, tmp_path / "check.html")
    assert "hostile.pkl" in (tmp_path / "check.html").read_text()
    strict = check.Checked(good.inspection, good.reference, good.reference_why, good.basis, good.consumers, True)
    warned = any(c["status"] == "warning" for c in good.consumers)
    assert strict.passed is not warned


@pytest.mark.container
def test_the_hostile_corpus_through_check_fails_alone_and_reaches_nothing(docker_client, tmp_path):
    import socket
    import time

    from test_load_stage import DAEMON, FLOOD, FORGE, TRACE, _gzip_bomb, _memo_bomb, _reduce, _skops_with

    run = Run(matrix.load(DATA / "two-envs.toml", "two"), backend="docker", reports=tmp_path / "reports")
    with exclusive("build-two-envs"):
        run.dump()
    consumer = run.matrix.envs[0]  # scikit-learn 1.3.2: the neighbours' own version, so the reference
    real = (run.tree.artifacts(consumer.id) / "LogisticRegression" / "model.pkl").read_bytes()
    marker = tmp_path / "host-marker"
    hostile = {
        "segfault.pkl": pickle.dumps(_reduce(__import__("ctypes").string_at, 0)),
        "hang.pkl": pickle.dumps(_reduce(time.sleep, 3600)),
        "memory.pkl": pickle.dumps(_reduce(bytearray, 64 << 30)),
        "write-host.pkl": pickle.dumps(_reduce(os.system, f"echo pwned > {marker}")),
        "fork-bomb.pkl": pickle.dumps(_reduce(exec, "import os\nwhile True:\n    os.fork()")),
        "forge.pkl": pickle.dumps(_reduce(exec, FORGE % "neighbour")),
        "daemon.pkl": pickle.dumps(_reduce(exec, DAEMON)),
        "trace.pkl": pickle.dumps(_reduce(exec, TRACE)),
        "flood.pkl": pickle.dumps(_reduce(exec, FLOOD)),
        "memo-bomb.pkl": _memo_bomb(30_000_000),
        "zip-bomb.joblib": _gzip_bomb(4 << 30),
        "eval.skops": _skops_with(eval),
        "socket.pkl": pickle.dumps(_reduce(socket.create_connection, ("10.255.255.1", 9), 2)),
    }
    files = []
    for i, (name, data) in enumerate(hostile.items()):
        good = tmp_path / f"neighbour-{i}.pkl"
        good.write_bytes(real + bytes(i + 1))  # distinct bytes after STOP: each really loads
        bad = tmp_path / name
        bad.write_bytes(data)
        files += [good, bad]
    results, _ = check.check_files(run, files, [consumer], reports=tmp_path / "reports", cell_timeout=10)
    by_file = {r.inspection["file"]: r for r in results}
    for name in hostile:
        line = by_file[name].consumers[0]
        assert not by_file[name].passed and line["status"] in (
            "crash", "timeout", "load-error", "predict-error", "refused", "uncompared"), (name, line)
    neighbours = [r for n, r in by_file.items() if n.startswith("neighbour")]
    assert len(neighbours) == len(hostile)
    assert all(r.passed and r.consumers[0]["status"] == "identical" for r in neighbours), \
        [(r.inspection["file"], r.consumers[0]["status"], r.consumers[0]["error"]) for r in neighbours]
    assert by_file["eval.skops"].consumers[0]["status"] == "refused"
    assert by_file["segfault.pkl"].consumers[0]["status"] == "crash"
    assert by_file["hang.pkl"].consumers[0]["status"] == "timeout"
    assert not marker.exists()

"""The load stage for real: hostile artifacts stay in the sandbox, and a killed run resumes exactly."""

import gzip
import ipaddress
import json
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from conftest import DATA, REPO, exclusive
from harness.results import cells as cells_mod
from harness.stages import load as loads
from harness.config import matrix
from harness.inside.schema import Status
from harness.core.files import sha256_file
from harness.workflow import Run


def _reduce(func, *args):
    """An object whose unpickling calls func(*args): pickled here, only ever loaded in the sandbox."""
    return type("Hostile", (), {"__reduce__": lambda self: (func, args)})()


def _gzip_bomb(size):
    """A joblib file (gzip, which joblib reads by its magic number) of a pickle holding size zero
    bytes: a few MB on disk, gigabytes once expanded. Built from one repeated gzip member, fast."""
    chunk = 64 << 20
    assert size % chunk == 0
    header = pickle.PROTO + b"\x04" + pickle.BINBYTES8 + size.to_bytes(8, "little")
    zeros = gzip.compress(bytes(chunk), compresslevel=9)
    return gzip.compress(header) + zeros * (size // chunk) + gzip.compress(pickle.STOP)


def _skops_with(func):
    """A skops file of a FunctionTransformer calling func: it names func's module and name."""
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    return sio.dumps(FunctionTransformer(func=func))


def _bridge_gateway(client):
    """The host's address on the engine's bridge: where a container with a network would reach it."""
    config = client.networks.get("bridge").attrs["IPAM"]["Config"][0]
    if "Gateway" in config:
        return config["Gateway"]
    network = ipaddress.ip_network(config["Subnet"])
    return str(next(network.hosts()))  # Docker takes the first host address when none is set


def _dumped_run(toml, reports):
    """A Run of the two small environments, built and dumped."""
    run = Run(matrix.load(DATA / toml, "two"), backend="docker", reports=reports)
    with exclusive("build-two-envs"):
        dumps = run.dump()
    assert all(d.ok for d in dumps), [d.error for d in dumps]
    return run


def _outcomes(run):
    """{cell key: (status, max_abs)} over every consumer's results."""
    out = {}
    for env in run.matrix.envs:
        for key, record in cells_mod.read_all(run.tree.result_files(env.id)).items():
            out[(env.id, key)] = (record["status"], record.get("max_abs"))
    return out


# Code run by hostile pickles inside the sandbox (never here): each attacks one thing a cell must not reach.
FORGE = """
import json, os
forged = json.dumps({"event": "cell", "i": 0, "key": %r, "child": None, "na": None, "error": None,
                     "outcome": {}, "log": None}) + "\\n"
reached = []
for target in ("/proc/1/fd/1", "/proc/1/fd/2", "/mnt/results", "/proc/self/fd/1"):
    try:
        with open(target, "a") as fh:
            fh.write(forged)
        reached.append(target)
    except OSError as exc:
        reached.append("%%s: %%s" %% (target, exc.strerror))
raise RuntimeError("forge: " + " | ".join(reached))
"""
DAEMON = """
import os, signal, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(3)  # the next cells have started: kill whatever can be killed
        for _ in range(100):
            try:
                os.kill(-1, signal.SIGKILL)
            except OSError:
                pass
            time.sleep(0.1)
    os._exit(0)
"""
TRACE = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
attach = libc.ptrace(16, 1, 0, 0)
errno = ctypes.get_errno()
try:
    open("/proc/1/mem", "r+b")
    mem = "opened"
except OSError as exc:
    mem = exc.strerror
raise RuntimeError("ptrace=%d errno=%d mem=%s" % (attach, errno, mem))
"""
SIGNALS = """
import os, signal, time
for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGSTOP, signal.SIGKILL):
    os.kill(1, sig)
time.sleep(0.5)
"""
FLOOD = """
import os
chunk = b"x" * (1 << 20)
for fd in os.listdir("/proc/self/fd"):
    try:
        target = os.readlink("/proc/self/fd/" + fd)
    except OSError:
        continue  # the listing's own descriptor
    if int(fd) > 2 and target.startswith("pipe:"):
        for _ in range(40):  # the result channel: 40 MB of one line
            os.write(int(fd), chunk)
        os._exit(0)
"""
OUTPUT_FLOOD = "import os\nfor _ in range(400):\n    os.write(1, b'y' * (1 << 20))\n"


def _memo_bomb(count):
    """A pickle of count MEMOIZE opcodes: tiny to write, a huge memo for a naive scanner."""
    return pickle.PROTO + b"\x04" + pickle.NONE + b"\x94" * count + pickle.STOP


def _lying_zip(size):
    """A skops-like zip whose schema.json says it is small and inflates to size zero bytes."""
    import io
    import struct
    import zipfile
    import zlib

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("schema.json", "{}")
    data = bytearray(buf.getvalue())
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = comp.compress(bytes(64 << 20)) * (size // (64 << 20)) + comp.flush()
    local = data.index(b"PK\x03\x04")
    name_len, extra_len = struct.unpack("<HH", data[local + 26:local + 30])
    start = local + 30 + name_len + extra_len
    old = struct.unpack("<I", data[local + 18:local + 22])[0]
    out = data[:start] + body + data[start + old:]
    delta = len(body) - old
    struct.pack_into("<I", out, local + 18, len(body))
    central = out.index(b"PK\x01\x02")
    struct.pack_into("<I", out, central + 20, len(body))
    end = out.index(b"PK\x05\x06")
    struct.pack_into("<I", out, end + 16, struct.unpack("<I", out[end + 16:end + 20])[0] + delta)
    return bytes(out)


def _distinct(run, real, name, index):
    """A neighbour: the real artifact with index zero bytes after pickle's STOP, so that no two
    neighbours share bytes (identical bytes would load once) and each really loads."""
    folder = run.tree.artifacts("neighbours") / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.pkl"
    path.write_bytes((run.tree.root / "artifacts" / real.file).read_bytes() + bytes(index))
    return cells_mod.Cell(f"neighbour-{name}", real.producer, real.estimator, "pickle", f"neighbours/{name}/model.pkl",
                          real.outputs, sha256_file(path), real.cls, None, real.task, real.outputs_sha256)


@pytest.mark.container
def test_hostile_artifacts_end_as_their_own_outcome(docker_client, tmp_path):
    run = _dumped_run("two-envs.toml", tmp_path / "reports")
    consumer = run.matrix.envs[1]
    producer = consumer.id  # the control: neighbours load where they were made
    own = [c for c in cells_mod.cells_for(run.builds[consumer.id].identity, [producer], run.tree, run.matrix, "t")
           if c.format == "pickle"]
    real = next(c for c in own if c.estimator == "LogisticRegression")
    gateway = _bridge_gateway(docker_client)
    listener = socket.create_server((gateway, 0))
    listener.settimeout(0.2)
    accepted = []
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                accepted.append(listener.accept())
            except OSError:
                pass

    threading.Thread(target=accept, daemon=True).start()
    counter = iter(range(1, 1000))

    def neighbour(tag):
        return _distinct(run, own[next(counter) % len(own)], tag, next(counter))

    # An earlier run: its results must come out of the hostile run untouched.
    earlier = [neighbour(f"earlier-{i}") for i in range(3)]
    first = loads.load_env(run.runner, run.matrix, consumer, run.builds[consumer.id],
                           loads.Plan(tuple(earlier), 0, tuple(earlier)), run.tree, cell_timeout=10)
    assert first.ok, first.error
    results = run.tree.results(consumer.id)
    before = results.read_bytes()
    assert len(cells_mod.read_results(results)) == 3

    marker = tmp_path / "host-marker"
    hostile = {
        "segfault": _reduce(__import__("ctypes").string_at, 0),
        "hang": _reduce(time.sleep, 3600),
        "memory": _reduce(bytearray, 64 << 30),
        "write-artifacts": _reduce(open, "/mnt/artifacts/pwned", "w"),
        "write-host": _reduce(os.system, f"echo pwned > {marker}"),
        "socket": _reduce(socket.create_connection, (gateway, listener.getsockname()[1]), 5),
        "fork-bomb": _reduce(exec, "import os\nwhile True:\n    os.fork()"),
        "forge": _reduce(exec, FORGE % earlier[0].key),
        "daemon": _reduce(exec, DAEMON),
        "trace": _reduce(exec, TRACE),
        "signals": _reduce(exec, SIGNALS),
        "flood-channel": _reduce(exec, FLOOD),
        "flood-log": _reduce(exec, OUTPUT_FLOOD),
    }
    files = {name: ("pickle", "model.pkl", pickle.dumps(obj), None) for name, obj in hostile.items()}
    files["memo-bomb"] = ("pickle", "model.pkl", _memo_bomb(30_000_000), None)
    files["zip-bomb"] = ("joblib-z", "model.z.joblib", _gzip_bomb(4 << 30), None)
    files["zip-lie"] = ("skops", "model.skops", _lying_zip(1 << 30), None)
    # The manifest travels with the artifact: claiming eval is needed must not make it trusted.
    files["skops-eval"] = ("skops", "model.skops", _skops_with(eval), ["builtins.eval"])
    files["skops-system"] = ("skops", "model.skops", _skops_with(os.system), None)
    import numpy as np
    files["skops-callable"] = ("skops", "model.skops", _skops_with(np.load), None)  # a function of numpy
    cells = []
    for name, (fmt, filename, payload, untrusted) in files.items():
        folder = run.tree.artifacts("hostile") / name
        folder.mkdir(parents=True)
        (folder / filename).write_bytes(payload)
        cells.append(neighbour(f"before-{name}"))
        cells.append(cells_mod.Cell(f"hostile-{name}", "hostile", name, fmt, f"hostile/{name}/{filename}",
                                    real.outputs, sha256_file(folder / filename), real.cls, untrusted, real.task,
                                    real.outputs_sha256))
    # A producer record that nests 200,000 deep: it costs its own cell only.
    nested = run.tree.artifacts("hostile") / "nested-outputs.json"
    nested.write_text("[" * 200_000 + "]" * 200_000)
    cells.append(neighbour("before-nested"))
    cells.append(cells_mod.Cell("hostile-nested-outputs", "hostile", "nested", "pickle", real.file,
                                "hostile/nested-outputs.json", real.sha256, real.cls, None, real.task,
                                sha256_file(nested)))
    cells.append(neighbour("last"))
    plan = loads.Plan(tuple(cells), 0, tuple(cells))
    result = loads.load_env(run.runner, run.matrix, consumer, run.builds[consumer.id], plan, run.tree,
                            cell_timeout=10)
    stop.set()
    assert result.ok, result.error
    assert results.read_bytes().startswith(before), "an earlier result was changed"
    assert results.stat().st_size < (4 << 20), "a cell wrote unbounded output into the results"
    got = cells_mod.read_results(results)
    assert set(got) == {c.key for c in earlier + cells}, "a cell has no result, or a foreign one"
    status = {key: record["status"] for key, record in got.items()}
    for key, record in sorted(got.items()):  # shown with -s: the evidence of each hostile cell
        if key.startswith("hostile"):
            print(key, record["status"], record["signal"], (record["error"] or {}).get("type"),
                  (record["error"] or {}).get("message", "")[:160], record["untrusted"])
    assert status["hostile-segfault"] == Status.CRASH and got["hostile-segfault"]["signal"] == signal.SIGSEGV
    assert status["hostile-hang"] == Status.TIMEOUT
    assert status["hostile-memory"] == Status.CRASH
    assert status["hostile-write-artifacts"] == Status.LOAD_ERROR
    assert "Read-only file system" in got["hostile-write-artifacts"]["error"]["message"]
    assert status["hostile-socket"] == Status.LOAD_ERROR
    assert status["hostile-write-host"] == Status.PREDICT_ERROR  # os.system ran, but found no host path
    # The process limit stops it (BlockingIOError); on a machine too busy to reach the limit within
    # the cell's time, the timeout does: contained either way.
    assert status["hostile-fork-bomb"] in (Status.LOAD_ERROR, Status.TIMEOUT)
    forge = got["hostile-forge"]["error"]["message"]
    assert status["hostile-forge"] == Status.LOAD_ERROR and "/proc/1/fd/1: Permission denied" in forge, forge
    assert "/mnt/results: Read-only file system" in forge or "/mnt/results: No such file" in forge, forge
    assert status["hostile-daemon"] == Status.PREDICT_ERROR  # its daemon died with the cell
    trace = got["hostile-trace"]["error"]["message"]
    assert "ptrace=-1 errno=1" in trace and "mem=Permission denied" in trace, trace
    assert status["hostile-signals"] == Status.PREDICT_ERROR  # the loader ignored every signal
    assert status["hostile-flood-channel"] == Status.CRASH and got["hostile-flood-channel"]["error"]["type"] == "Oversize"
    assert status["hostile-flood-log"] in (Status.LOAD_ERROR, Status.PREDICT_ERROR)  # its /tmp filled up, nothing else
    assert status["hostile-memo-bomb"] == Status.PREDICT_ERROR  # it unpickles to None; the scan before it held
    assert not [k for k, r in got.items() if (r["error"] or {}).get("type") == "LoaderDied"]  # no loader was lost
    assert status["hostile-zip-bomb"] == Status.CRASH and got["hostile-zip-bomb"]["error"]["type"] == "MemoryError"
    assert status["hostile-zip-lie"] in (Status.LOAD_ERROR, Status.CRASH, Status.REFUSED)
    for name, needed in (("skops-eval", "builtins.eval"), ("skops-system", "posix.system")):
        assert status[f"hostile-{name}"] == Status.REFUSED and got[f"hostile-{name}"]["untrusted"] == [needed]
    assert status["hostile-skops-callable"] == Status.REFUSED
    assert status["hostile-nested-outputs"] == Status.LOAD_ERROR
    assert got["hostile-nested-outputs"]["error"]["type"] == "ProducerRecord"
    assert not marker.exists() and not (run.tree.artifacts("hostile") / "pwned").exists()
    assert accepted == [], "a sandboxed artifact reached a socket on the host"
    neighbours = [c.key for c in cells if c.key.startswith("neighbour")]
    assert len({got[k]["key"] for k in neighbours}) == len(neighbours) == len(files) + 2
    assert all(status[k] == Status.IDENTICAL for k in neighbours), {k: status[k] for k in neighbours}
    # A rerun computes nothing new: every cell has its line.
    done = cells_mod.read_results(results)
    assert [c for c in earlier + cells if c.key not in done] == []


@pytest.mark.container
def test_killed_run_resumes_to_the_same_results(docker_client, tmp_path):
    run = _dumped_run("resume.toml", tmp_path / "killed")
    shutil.copytree(tmp_path / "killed", tmp_path / "whole")  # the same artifacts for both runs
    reference = Run(run.matrix, backend="docker", reports=tmp_path / "whole")
    reference.load()
    expected = _outcomes(reference)
    assert len(expected) >= 300

    command = [sys.executable, "-m", "harness", "--file", str(DATA / "resume.toml"), "load", "--matrix", "two",
               "--reports", str(tmp_path / "killed"), "--jobs", "1"]
    tasks = run.tree.tasks(run.matrix.envs[0].id)
    # kill -9 while the first container warms up (tasks written, no cell yet), then after 20 cells,
    # then later in the second consumer's run; each time the container is left behind, running.
    for cut in (0, 20, 150):
        proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 300
        while (not tasks.exists() if cut == 0 else
               sum(cells_mod.count_lines(run.tree.results(e.id)) for e in run.matrix.envs) < cut):
            assert proc.poll() is None and time.monotonic() < deadline, "the load ended before the kill"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if cut == 0:
            assert sum(cells_mod.count_lines(run.tree.results(e.id)) for e in run.matrix.envs) == 0
    run.load()
    assert _outcomes(run) == expected
    for env in run.matrix.envs:
        lines = run.tree.results(env.id).read_text().splitlines()
        keys = [json.loads(line)["key"] for line in lines]
        assert len(keys) == len(set(keys)), "a cell was counted twice"


@pytest.mark.container
def test_shards_at_once_on_one_tree_merge_to_the_single_machine_results(docker_client, tmp_path):
    from harness.results.combine import combine

    whole = _dumped_run("two-envs.toml", tmp_path / "whole")
    for name in ("shared", "merged"):
        shutil.copytree(tmp_path / "whole", tmp_path / name)  # every machine has the dumps
    whole.load()
    expected = _outcomes(whole)
    # Both shards in one tree at the same time (seen: they once shared a tasks file and did the same half).
    shards = [Run(whole.matrix, backend="docker", reports=tmp_path / "shared", shard=(i, 2)) for i in (1, 2)]
    errors = []
    threads = [threading.Thread(target=lambda s=s: _catching(s.load, errors)) for s in shards]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    slices = [{key for env in whole.matrix.envs for key in cells_mod.read_results(s.tree.results(env.id))}
              for s in shards]
    assert slices[0] and slices[1] and not slices[0] & slices[1]
    assert len(slices[0]) + len(slices[1]) == len(expected)
    merged = Run(whole.matrix, backend="docker", reports=tmp_path / "merged")
    _, added = combine(merged.tree.root, [tmp_path / "shared" / "two"])
    assert added == len(expected)
    assert combine(merged.tree.root, [tmp_path / "shared" / "two"]) == (0, 0)  # merging twice adds nothing
    got = {}
    for env in merged.matrix.envs:
        for key, record in cells_mod.read_all(merged.tree.result_files(env.id)).items():
            got[(env.id, key)] = (record["status"], record.get("max_abs"))
    assert got == expected


def _catching(call, errors):
    """Run call, keeping its exception for the test's thread."""
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - reported by the assertion
        errors.append(exc)


@pytest.mark.container
def test_a_loaded_artifact_is_also_compared_with_the_consumers_own_fit(docker_client, tmp_path):
    from harness.report import collect as merge

    run = _dumped_run("two-envs.toml", tmp_path / "reports")
    old, new = (e.id for e in run.matrix.envs)
    run.load(_only_env(run, new))
    lines = cells_mod.read_all(run.tree.result_files(new)).values()
    cross = [r for r in lines if r["producer"] == old and r["status"] in ("identical", "close", "warning")]
    assert cross and all(r["refit"]["status"] in ("identical", "close", "mismatch", "predict-error") for r in cross)
    assert not [r for r in lines if r["producer"] == new and "refit" in r]  # the diagonal is its own fit
    # The loaded 1.3.2 pickle predicts as it did in 1.3.2; 1.6.1's own fit of the same estimator on
    # the same data does not (its solver changed): a retrain would move predictions, the load does not.
    lr = next(r for r in cross if r["estimator"] == "LogisticRegression" and r["format"] == "pickle")
    assert lr["status"] in ("identical", "warning") and lr["refit"]["status"] == "mismatch", lr["refit"]
    cells = merge.collect_cells(run.matrix, run.tree, [old, new])
    cv = next(c for c in cells if c["producer"] == old and c["consumer"] == new and c["estimator"] == "LogisticRegression")
    assert cv["cv"]["in_range"] in (True, False) and len(cv["cv"]["producer"]) == 2


def _only_env(run, env_id):
    import dataclasses
    return dataclasses.replace(run.matrix, envs=tuple(e for e in run.matrix.envs if e.id == env_id))

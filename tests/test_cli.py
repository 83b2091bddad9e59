"""The command line (list, selection errors) plus the offline parts of harness.envs.wheels and harness.core.files."""

import dataclasses
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from harness import cli
from harness.core import files as layout
from harness.envs import wheels
from harness.config.matrix import Env, load_all

ROOT = Path(__file__).resolve().parents[1]
MATRIX = ROOT / "matrix.toml"


def run(*args, cache):
    """python -m harness ARGS from the repository root, with the cache in a test folder."""
    env = {**os.environ, "SKLMATRIX_CACHE": str(cache)}
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def matrices():
    return load_all(MATRIX)


def test_list_prints_ids_and_dropped(tmp_path, matrices):
    proc = run("list", cache=tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    for name in ("default", "quick"):
        m = matrices[name]
        assert f"{name}: {len(m.envs)} environments, {len(m.dropped)} dropped" in lines
        for env in m.envs:
            assert f"  {env.id}" in lines
    assert ("  dropped skl1.2.2-py3.13-np1-amd64: scikit-learn 1.2.2 has no wheels for Python 3.13"
            " (has: 3.8, 3.9, 3.10, 3.11)") in lines
    assert not (tmp_path / "cache").exists()


def test_list_json(tmp_path, matrices):
    proc = run("list", "--json", cache=tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert set(data) == set(matrices)
    for name, m in matrices.items():
        assert data[name]["envs"] == [e.id for e in m.envs]
        assert data[name]["dropped"] == {d.id: d.reason for d in m.dropped}
    assert "skl1.2.2-py3.13-np1-amd64" in data["default"]["dropped"]
    assert len(data["quick"]["envs"]) == 3 and data["quick"]["dropped"] == {}


def test_list_one_matrix(tmp_path):
    proc = run("list", "--matrix", "quick", "--json", cache=tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr
    assert list(json.loads(proc.stdout)) == ["quick"]


def test_file_after_the_verb(tmp_path):
    """`./run list -- --file F` passes --file after the verb: it names the file there too."""
    mine = tmp_path / "mine.toml"
    mine.write_text('[matrix.mine]\nscikit-learn = ["1.6.1"]\npython = ["3.11"]\nnumpy = ["2"]\narch = ["amd64"]\n')
    assert cli._parser().parse_args(["list"]).file == "matrix.toml"
    assert cli._parser().parse_args(["--file", "a.toml", "list"]).file == "a.toml"
    proc = run("list", "--json", "--file", str(mine), cache=tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"mine": {"envs": ["skl1.6.1-py3.11-np2-amd64"], "dropped": {}}}


def one_error_line(proc):
    """The single stderr line of a failed command."""
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_resolve_unknown_env_exits_3_before_any_download(tmp_path):
    cache = tmp_path / "cache"
    proc = run("resolve", "--matrix", "quick", "skl1.4.2-py3.11-np1-amd46", cache=cache)
    assert proc.returncode == 3
    line = one_error_line(proc)
    assert "no environment of matrix 'quick' matches 'skl1.4.2-py3.11-np1-amd46'" in line
    assert "did you mean 'skl1.4.2-py3.11-np1-amd64'?" in line
    assert "`python -m harness list` shows the ids" in line
    assert not cache.exists()  # no wheelhouse, log or lock was started


def test_resolve_nope_id_in_process_touches_nothing(monkeypatch, tmp_path, capsys):
    def forbidden(*args, **kwargs):
        raise AssertionError("network, pip or resolution reached before the selection was checked")

    import harness.workflow

    monkeypatch.setenv("SKLMATRIX_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(harness.workflow, "resolve_stage", forbidden)
    monkeypatch.setattr(wheels, "resolve_all", forbidden)
    monkeypatch.setattr(subprocess, "run", forbidden)
    monkeypatch.setattr(socket, "create_connection", forbidden)
    monkeypatch.setattr(socket.socket, "connect", forbidden)
    code = cli.main(["--file", str(MATRIX), "resolve", "--matrix", "quick", "NOPE-id"])
    assert code == 3
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("error: no environment of matrix 'quick' matches 'NOPE-id'")
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("verb", ["list", "resolve", "build"])
def test_unknown_matrix_exits_2(tmp_path, verb):
    proc = run(verb, "--matrix", "nosuch", cache=tmp_path / "cache")
    assert proc.returncode == 2
    line = one_error_line(proc)
    assert "no matrix named 'nosuch'" in line and "have: default, full, quick" in line
    assert not (tmp_path / "cache").exists()


def test_misspelt_matrix_suggests(tmp_path):
    proc = run("list", "--matrix", "quik", cache=tmp_path / "cache")
    assert proc.returncode == 2
    assert "did you mean 'quick'?" in one_error_line(proc)


def test_missing_file_exits_2(tmp_path):
    proc = run("--file", str(tmp_path / "absent.toml"), "list", cache=tmp_path / "cache")
    assert proc.returncode == 2
    line = one_error_line(proc)
    assert line.startswith(f"error: {tmp_path / 'absent.toml'}: cannot read")


def test_bad_file_written_at_test_time(tmp_path):
    path = tmp_path / "matrix.toml"
    path.write_text('[matrix.default]\nscikit-learn = ["1.3.2"]\npython = ["3.11"]\narch = ["x86_64"]\n')
    proc = run("--file", str(path), "list", "--json", cache=tmp_path / "cache")
    assert proc.returncode == 2 and proc.stdout == ""
    assert one_error_line(proc) == (f"error: {path}:4: matrix.default.arch: unknown value 'x86_64'; "
                                    "did you mean 'amd64'? (allowed: amd64, arm64, i386)")


# harness.envs.wheels, offline parts.

def test_platform_tags_amd64():
    tags = wheels.platform_tags("amd64", "2.36")
    assert tags[0] == "manylinux_2_36_x86_64"
    assert tags[-3:] == ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"]
    numbered = tags[:-3]
    assert numbered == [f"manylinux_2_{n}_x86_64" for n in range(36, 4, -1)]  # newest first, down to 2_5
    assert "manylinux_2_17_x86_64" in tags and len(tags) == len(set(tags))


def test_platform_tags_arm64():
    tags = wheels.platform_tags("arm64", "2.31")
    assert tags[0] == "manylinux_2_31_aarch64" and tags[-1] == "manylinux2014_aarch64"
    assert all(t.endswith("_aarch64") for t in tags)
    assert not any("manylinux1" in t or "manylinux2010" in t for t in tags)  # never built for aarch64
    assert "manylinux_2_32_aarch64" not in tags  # newer than the base image's glibc


def test_platform_tags_unknown_arch():
    with pytest.raises(KeyError):
        wheels.platform_tags("x86_64", "2.36")


ENV = Env("1.3.2", "3.11", "1", "amd64", "1.26.4", "1.11.4")


def test_requirements():
    assert wheels.requirements(ENV, ()) == ["scikit-learn==1.3.2", "numpy==1.26.4", "scipy==1.11.4",
                                            "joblib", "threadpoolctl"]
    richest = wheels.requirements(ENV, wheels.TIERS[0])
    assert richest[:5] == wheels.requirements(ENV, ())
    assert richest[5:] == list(wheels.TIERS[0])


def test_pandas_joins_each_tier_at_the_version_of_its_time():
    tiers = wheels.with_pandas(wheels.TIERS)
    assert tiers[:len(wheels.TIERS)] == tuple(("pandas",) + t for t in wheels.TIERS)
    assert tiers[len(wheels.TIERS):] == wheels.TIERS  # then without pandas
    reqs = wheels.requirements(ENV, tiers[0])
    assert reqs[:5] == wheels.requirements(ENV, ()) and reqs[5] == "pandas==2.1.*"
    assert reqs[6:] == list(wheels.TIERS[0])
    brought = dataclasses.replace(ENV, requirements=("scikit-learn==1.3.2", "numpy==1.26.4", "pandas==2.0.0"))
    assert "pandas" in wheels.requirements(brought, ("pandas",))  # the user's own pin decides


def test_a_stack_without_pandas_resolves_without_it(tmp_path, monkeypatch):
    from harness.core.cache import Cache

    calls = []

    def fake_pip(cmd, stdout, **_):
        reqs = cmd[cmd.index("--dest") + 2:]
        reqs = [r for r in reqs if not r.startswith("--platform") and "manylinux" not in r]
        calls.append(reqs)
        if any(r.startswith("pandas") for r in reqs):
            stdout.write("ERROR: No matching distribution found for pandas==2.1.*\n")
            return subprocess.CompletedProcess(cmd, 1)
        dest = Path(cmd[cmd.index("--dest") + 1])
        (dest / "scikit_learn-1.3.2-cp311-cp311-manylinux_2_17_x86_64.whl").write_bytes(b"w")
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(wheels.subprocess, "run", fake_pip)
    lock = wheels.resolve(ENV, Cache(tmp_path))
    assert lock.ok and not lock.missing, lock
    assert len(calls) == len(wheels.TIERS) + 1  # every tier with pandas, then the richest without
    assert not any(r.startswith("pandas") for r in calls[-1])


def test_requirements_from_matrix_envs(matrices):
    for env in matrices["quick"].envs:
        reqs = wheels.requirements(env, ("cloudpickle",))
        assert reqs[:3] == [f"scikit-learn=={env.sklearn}", f"numpy=={env.numpy_pin}", f"scipy=={env.scipy_pin}"]
        assert reqs[-1] == "cloudpickle"


def test_pip_command_is_binary_only_for_the_target(tmp_path):
    cmd = wheels.pip_command(ENV, wheels.requirements(ENV, ()), tmp_path)
    assert cmd[:4] == [sys.executable, "-m", "pip", "download"]
    assert "--only-binary=:all:" in cmd
    assert cmd[cmd.index("--python-version") + 1] == "3.11"
    assert cmd[cmd.index("--abi") + 1] == "cp311"
    assert cmd[cmd.index("--dest") + 1] == str(tmp_path)
    platforms = [cmd[i + 1] for i, arg in enumerate(cmd) if arg == "--platform"]
    assert platforms and all(p.endswith("_x86_64") for p in platforms)
    assert cmd[-5:] == wheels.requirements(ENV, ())


# harness.core.files.write_json.

def test_write_json_round_trip_and_no_leftovers(tmp_path):
    path = tmp_path / "deep" / "er" / "lock.json"
    layout.write_json(path, {"b": 1, "a": [1, 2]})
    assert layout.read_json(path) == {"b": 1, "a": [1, 2]}
    assert path.read_text(encoding="utf-8").endswith("\n")
    layout.write_json(path, {"c": 3})
    assert layout.read_json(path) == {"c": 3}
    assert [p.name for p in path.parent.iterdir()] == ["lock.json"]


def test_write_json_failure_keeps_old_file(tmp_path):
    path = tmp_path / "lock.json"
    layout.write_json(path, {"ok": True})
    with pytest.raises(TypeError):
        layout.write_json(path, {"bad": object()})
    assert layout.read_json(path) == {"ok": True}
    assert [p.name for p in tmp_path.iterdir()] == ["lock.json"]


def test_write_json_interrupted_replace_leaves_no_tmp(tmp_path, monkeypatch):
    path = tmp_path / "lock.json"

    def boom(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(layout.os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        layout.write_json(path, {"x": 1})
    assert list(tmp_path.iterdir()) == []


def test_read_json_missing(tmp_path):
    assert layout.read_json(tmp_path / "nothing.json") is None


def test_pip_failure_reason_skips_the_yanked_versions_notice(tmp_path):
    log = tmp_path / "pip.log"
    log.write_text("Collecting numpy==1.26.99\n"
                   "ERROR: Ignored the following yanked versions: 2.4.0\n"
                   "ERROR: Could not find a version that satisfies the requirement numpy==1.26.99 (from versions: 2.0.0)\n"
                   "ERROR: No matching distribution found for numpy==1.26.99\n")
    assert wheels._last_error(log).startswith("Could not find a version that satisfies the requirement numpy==1.26.99")

"""Choosing a backend, and the no-Docker backend building a real virtualenv environment."""

import dataclasses
import subprocess

import pytest

from conftest import REPO, exclusive
from harness.config import matrix
from harness import workflow as pipeline
from harness.envs import venvs
from harness.core.errors import EngineUnavailable
from harness.core.cache import Cache

NO_ENGINE = "unix:///nonexistent/docker.sock"


def test_without_an_engine_auto_falls_back_to_venvs_and_says_so(monkeypatch, capsys):
    monkeypatch.setenv("DOCKER_HOST", NO_ENGINE)
    assert pipeline.choose_backend("auto") == "venv"
    out = capsys.readouterr().out
    assert "falling back to virtualenvs" in out and "setup-engine.sh" in out


def test_docker_backend_required_but_absent_is_exit_4(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", NO_ENGINE)
    with pytest.raises(EngineUnavailable) as caught:
        pipeline.choose_backend("docker")
    assert caught.value.exit_code == 4 and "setup-engine" in caught.value.line()


def test_venv_backend_names_what_it_cannot_cover():
    default = matrix.load(REPO / "matrix.toml", "default")
    arm = next(e for e in default.envs if e.arch == "arm64")
    built = venvs.build_env(arm, None, Cache.default())
    assert not built.ok and "arm64" in built.error and "setup-engine" in built.error
    missing = dataclasses.replace(arm, arch="amd64", python="3.99")
    from harness.envs.wheels import Lock

    built = venvs.build_env(missing, Lock(missing.id, "x"), Cache.default())
    assert not built.ok and "no Python 3.99" in built.error


def test_venv_environment_is_real():
    quick = matrix.load(REPO / "matrix.toml", "quick")
    env = quick.envs[-1]
    if venvs.find_python(env.python) is None:
        pytest.skip(f"no local Python {env.python}")
    with exclusive(f"venv-{env.id}"):
        locks, [built] = pipeline.build_stage(dataclasses.replace(quick, envs=(env,)), backend="venv")
    assert built.ok, built.error
    python = f"{built.tag}/bin/python"
    out = subprocess.run([python, "-c", "import sklearn, numpy; print(sklearn.__version__, numpy.__version__)"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == [env.sklearn, env.numpy_pin]


def test_ctrl_c_removes_the_containers_the_other_workers_wait_on():
    import threading
    import time

    from harness.envs.runner import run_stoppably

    release, stopped = threading.Event(), []

    def work(item):
        if item == 0:
            time.sleep(0.2)
            raise KeyboardInterrupt  # as future.result() raises it in the main thread on Ctrl-C
        return release.wait(60)  # a worker blocked on its container until stop() removes it

    def stop():
        stopped.append(time.monotonic())
        release.set()

    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_stoppably(work, range(5), 2, stop)
    assert len(stopped) == 1 and time.monotonic() - start < 10


def test_the_costliest_work_starts_first_and_results_keep_their_order():
    from harness.envs.runner import run_stoppably

    started = []

    def work(item):
        started.append(item)
        return item * 10

    # One worker, so the start order is the schedule: the emulated (costly) items first, ties in order.
    costs = {"amd64-a": 1, "arm64-a": 8, "amd64-b": 1, "arm64-b": 8}
    assert run_stoppably(work, list(costs), 1, lambda: None, cost=costs.get) == [k * 10 for k in costs]
    assert started == ["arm64-a", "arm64-b", "amd64-a", "amd64-b"]


def test_auto_brings_up_the_engine_itself_where_it_may_and_says_so(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setattr(pipeline.engine, "available", lambda: False)
    setup = tmp_path / "images" / "setup-engine.sh"
    setup.parent.mkdir()
    setup.write_text(f"echo ran > {tmp_path / 'ran'}\nexit 1\n")
    monkeypatch.setattr(pipeline, "ENGINE_SETUP", setup)
    monkeypatch.setattr(pipeline, "can_set_up_engine", lambda: True)
    assert pipeline.choose_backend("auto") == "venv"
    out = capsys.readouterr().out
    assert (tmp_path / "ran").exists() and "bringing one up" in out and "exit 1" in out and "falling back" in out


def test_auto_never_sets_up_an_engine_when_one_is_named_or_it_is_turned_off(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", NO_ENGINE)
    assert not pipeline.can_set_up_engine()
    monkeypatch.delenv("DOCKER_HOST")
    monkeypatch.setenv("SKLMATRIX_NO_ENGINE_SETUP", "1")
    assert not pipeline.can_set_up_engine()


def test_containers_work_in_the_inside_codes_folder_and_nowhere_writable(monkeypatch):
    """`python -m` puts the working folder first on sys.path: the runner names the folder of the
    read-only inside code, since the images no longer set one (the root would make /tmp importable)."""
    from harness.envs import engine, runner as runner_mod
    from harness.envs.images import Built

    seen = []
    monkeypatch.setattr(engine, "run", lambda client, tag, command, **kw: seen.append(kw) or (0, "", ""))
    monkeypatch.setattr(engine, "start", lambda client, tag, command, **kw: seen.append(kw))
    run = runner_mod.Runner("docker", client=object())
    built = Built("skl1.5.2-py3.11-np1-amd64", True, "sklmatrix/x:1")
    run.run(built, "dump", ["{out}"], {"out": ("/tmp/out", False)})
    run.start(built, "load", ["{artifacts}"], {"artifacts": ("/tmp/a", True)})
    assert [kw["working_dir"] for kw in seen] == [runner_mod.HARNESS_MOUNT] * 2
    for kw in seen:
        targets = {target: ro for _, target, ro in kw["mounts"]}
        assert targets[f"{runner_mod.HARNESS_MOUNT}/inside"] is True
        assert kw["environment"]["PYTHONPATH"] == runner_mod.HARNESS_MOUNT

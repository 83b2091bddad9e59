"""The overlapped schedule: native work goes on while emulated environments build and dump, and a
consumer only ever loads from dumps that are finished."""

import threading
import time
from dataclasses import dataclass
from types import SimpleNamespace

from harness.stages import overlap
from harness.core.platforms import HOST_ARCH

EMULATED = "s390x" if HOST_ARCH != "s390x" else "amd64"


@dataclass(frozen=True)
class FakeMatrix:
    envs: tuple


class FakeRun:
    """Build, dump and load that only record when they ran (emulated work is slow)."""

    def __init__(self, envs, jobs=2):
        self.matrix = FakeMatrix(tuple(envs))
        self.jobs = jobs
        self.events, self.lock = [], threading.Lock()
        self.dumped = set()

    def _note(self, what, envs, **extra):
        with self.lock:
            self.events.append((time.monotonic(), what, tuple(e.id for e in envs), extra))

    def _slow(self, envs):
        time.sleep(0.3 if any(e.arch != HOST_ARCH for e in envs) else 0.02)

    def build(self, selected, jobs=None):
        self._note("build", selected.envs, jobs=jobs)
        self._slow(selected.envs)
        self._note("built", selected.envs)

    def dump(self, selected, jobs=None):
        self._note("dump", selected.envs)
        self._slow(selected.envs)
        with self.lock:
            self.dumped |= {e.id for e in selected.envs}
        self._note("dumped", selected.envs)
        return [SimpleNamespace(env_id=e.id, ok=True) for e in selected.envs]

    def load(self, selected=None, producers=None, jobs=None):
        envs = (selected or self.matrix).envs
        with self.lock:
            unfinished = set(producers or ()) - self.dumped
        self._note("load", envs, producers=None if producers is None else sorted(producers), unfinished=unfinished)
        self._slow(envs)
        return []

    def stop_all(self):
        self._note("stop", ())


def _env(name, arch):
    return SimpleNamespace(id=name, arch=arch)


def _when(run, what, env):
    return [t for t, w, envs, _ in run.events if w == what and env in envs]


def test_native_loads_run_while_the_emulated_lane_builds_and_dumps():
    run = FakeRun([_env("n1", HOST_ARCH), _env("n2", HOST_ARCH), _env("e1", EMULATED)])
    assert overlap.worth_it(run)
    overlap.run(run, say=lambda line: None)
    native_load = _when(run, "load", "n1")[0]
    assert native_load < _when(run, "dumped", "e1")[0]  # no native load waits for the emulated dump
    assert _when(run, "load", "e1")[0] > max(_when(run, "dumped", "n1") + _when(run, "dumped", "n2"))
    loads = [(envs, extra) for _, w, envs, extra in run.events if w == "load"]
    assert all(not extra["unfinished"] for _, extra in loads)  # only finished dumps are loaded from
    native_pass = [extra for envs, extra in loads if envs == ("n1", "n2")][0]
    assert native_pass["producers"] == ["n1", "n2"]
    second = [(t, extra) for t, w, envs, extra in run.events if w == "load" and envs == ("n1", "n2")][1]
    assert second[1]["producers"] == ["e1", "n1", "n2"]  # the emulated dump, once it is done,
    assert second[0] < _when(run, "load", "e1")[0] + 0.3  # beside the emulated consumer's load
    assert loads[-1][0] == ("n1", "n2", "e1") and loads[-1][1]["producers"] is None  # the last pass: all
    builds = [extra["jobs"] for _, w, envs, extra in run.events if w == "build"]
    assert sorted(builds) == [1, 1]  # one slot each lane on two


def test_no_overlap_without_two_slots_or_two_kinds_of_environment():
    assert not overlap.worth_it(FakeRun([_env("n1", HOST_ARCH), _env("e1", EMULATED)], jobs=1))
    assert not overlap.worth_it(FakeRun([_env("n1", HOST_ARCH), _env("n2", HOST_ARCH)]))


def test_an_error_in_the_emulated_lane_is_raised_after_the_native_lane():
    run = FakeRun([_env("n1", HOST_ARCH), _env("e1", EMULATED)])

    def broken(selected, jobs=None):
        if any(e.arch != HOST_ARCH for e in selected.envs):
            raise RuntimeError("emulated build broke")
        return FakeRun.build(run, selected, jobs)

    run.build = broken
    try:
        overlap.run(run, say=lambda line: None)
    except RuntimeError as exc:
        assert "emulated build broke" in str(exc)
    else:
        raise AssertionError("the lane's error was lost")
    assert _when(run, "load", "n1")  # the native lane still ran

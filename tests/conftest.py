"""Shared fixtures: the engine for container tests, and a lock so xdist workers build once."""

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path

import pytest

from harness.envs import engine, venvs
from harness.inside.schema import PYTHON_FLOOR
from harness.core.errors import EngineUnavailable
from harness.core.cache import Cache

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def docker_client():
    """A client of a running engine; CI (SKLMATRIX_REQUIRE_ENGINE=1) fails instead of skipping."""
    try:
        client = engine.connect()
    except EngineUnavailable as exc:
        if os.environ.get("SKLMATRIX_REQUIRE_ENGINE") == "1":
            pytest.fail(f"container tests need an engine: {exc.line()}")
        pytest.skip(f"no container engine: {exc.line()}")
    yield client
    client.close()


@pytest.fixture(scope="session")
def oldest_python():
    """The interpreter of inside/schema.PYTHON_FLOOR (pyenv has it on this kind of machine); CI fails
    without it, since the inside code's oldest-Python checks would otherwise never run."""
    version = "%d.%d" % PYTHON_FLOOR
    found = venvs.find_python(version)
    if found is None:
        if os.environ.get("SKLMATRIX_REQUIRE_ENGINE") == "1":
            pytest.fail(f"no Python {version} on PATH, under pyenv or uv: the inside code's floor is untested")
        pytest.skip(f"no Python {version} on PATH, under pyenv or uv")
    return Path(found)


@pytest.fixture(scope="session")
def shared_cache():
    """The project cache, shared by tests and real runs: bases and wheels are reused."""
    return Cache.default()


@contextmanager
def exclusive(name):
    """An inter-process lock, so parallel workers build shared images one at a time."""
    path = Cache.default().root / "locks" / f"{name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)

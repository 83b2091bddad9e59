"""The no-Docker backend: environments as virtualenvs made from local interpreters, native arch only."""

import glob
import os
import shutil
import subprocess
import time
from pathlib import Path

from ..core.platforms import HOST_ARCH
from .images import Built
from ..core.files import sha256_text

HOW_TO_DOCKER = "run `sudo images/setup-engine.sh` to get Docker with arm64 emulation"


def find_python(version):
    """A local CPython X.Y: on PATH, under pyenv, or known to uv; None when there is none."""
    candidates = [shutil.which(f"python{version}")]
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates += sorted(glob.glob(f"{pyenv_root}/versions/{version}.*/bin/python{version}"), reverse=True)
    if shutil.which("uv"):
        found = subprocess.run(["uv", "python", "find", version], capture_output=True, text=True)
        candidates.append(found.stdout.strip() if found.returncode == 0 else None)
    for path in candidates:
        if path and _is_version(path, version):
            return path
    return None


def _is_version(path, version):
    """Whether the interpreter at path reports major.minor == version."""
    probe = subprocess.run([path, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                           capture_output=True, text=True)
    return probe.returncode == 0 and probe.stdout.strip() == version


def venv_path(env, lock, cache):
    """Where an environment's venv lives, named by the hash of its wheel set."""
    digest = sha256_text(env.id, *(sha for _, sha in lock.wheels))[:16]
    return cache.root / "venvs" / f"{env.id}-{digest}"


def build_env(env, lock, cache):
    """Make (or reuse) one environment's venv from the wheelhouse; failures become a Built."""
    start = time.monotonic()
    if env.image:
        return Built(env.id, False, error=f"{env.image} is an image: it needs a container engine; {HOW_TO_DOCKER}")
    if env.arch != HOST_ARCH:
        return Built(env.id, False, error=f"{env.arch} is not this machine's architecture; {HOW_TO_DOCKER}")
    if not lock.ok:
        return Built(env.id, False, error=f"wheels could not be resolved: {lock.error}")
    python = find_python(env.python)
    if python is None:
        return Built(env.id, False, error=f"no Python {env.python} found on PATH, in pyenv or uv; {HOW_TO_DOCKER}")
    target = venv_path(env, lock, cache)
    marker = target / "sklmatrix-ready"
    if marker.exists():
        return Built(env.id, True, str(target), cached=True)
    shutil.rmtree(target, ignore_errors=True)
    log_path = cache.build_log(env.id)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    wheels = [str(cache.pool / name) for name, _ in lock.wheels]
    steps = [[python, "-m", "venv", str(target)],
             [str(target / "bin" / "python"), "-m", "pip", "install", "--no-index", "--no-deps",
              "--disable-pip-version-check", *wheels]]
    with open(log_path, "w", encoding="utf-8") as log:
        for step in steps:
            if subprocess.run(step, stdout=log, stderr=subprocess.STDOUT).returncode != 0:
                tail = tuple(Path(log_path).read_text(errors="replace").splitlines()[-20:])
                return Built(env.id, False, str(target), seconds=time.monotonic() - start,
                             error=f"venv install failed (see {log_path})", log_tail=tail)
    marker.write_text(env.id + "\n")
    return Built(env.id, True, str(target), seconds=time.monotonic() - start)


def build_all(matrix, locks, cache, say=print):
    """Every environment's venv; says plainly what this backend cannot cover."""
    by_id = {lock.env_id: lock for lock in locks}
    results = []
    for number, env in enumerate(matrix.envs, 1):
        built = build_env(env, by_id[env.id], cache)
        results.append(built)
        state = ("up to date" if built.cached else f"made in {built.seconds:.0f}s") if built.ok \
            else f"NOT COVERED: {built.error}"
        say(f"[{number}/{len(matrix.envs)}] venv {env.id}: {state}")
    return results

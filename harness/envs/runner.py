"""Run harness/inside modules in an environment: a sandboxed container, or a venv child process."""

import hashlib
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from . import engine
from ..core.source import INSIDE

# One BLAS/OpenMP thread everywhere: outputs are reproducible and forked children stay safe.
THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "BLIS_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"}

# Where the inside code is mounted, and the containers' working folder: `python -m` puts the working
# folder first on sys.path, and this one holds nothing but the read-only inside code, where the image's
# root would offer every top-level folder (/tmp among them, writable) as an importable package.
HARNESS_MOUNT = "/opt/harness"


@dataclass(frozen=True)
class Limits:
    """The sandbox of a container: what a loaded artifact may use."""

    memory: str = "4g"
    pids: int = 256
    user: str = "10001:10001"


@dataclass
class Runner:
    """Runs `python -m inside.<module>` in one environment's image (docker) or venv."""

    backend: str
    client: object = None

    def run(self, built, module, args, mounts, *, timeout=None, limits=None, user=None, sandbox=False, job=None):
        """Run a module; mounts is {name: (host path, read_only)}, args may hold '{name}'.

        job names the work (e.g. the results file): a container left running for the same job by a
        killed run is removed first, so two writers never share a results file.
        """
        if self.backend == "docker":
            return self._docker(built, module, args, mounts, timeout, limits, user, sandbox, job)
        return self._venv(built, module, args, mounts, timeout)

    def _container(self, built, module, args, mounts, job):
        """(command, binds, environment, labels) of a container with the inside code mounted read-only;
        a container a killed run left on the same job is removed first."""
        where = {name: f"/mnt/{name}" for name in mounts}
        binds = [(str(INSIDE), f"{HARNESS_MOUNT}/inside", True)]
        binds += [(str(Path(host).resolve()), where[name], ro) for name, (host, ro) in mounts.items()]
        env = dict(THREAD_ENV, **dict(built.runtime), PYTHONPATH=HARNESS_MOUNT, HOME="/tmp")
        labels = _job_labels(job)
        if labels:
            engine.kill_labelled(self.client, labels)
        return ["python", "-m", f"inside.{module}", *_fill(args, where)], binds, env, labels

    def _venv_command(self, built, module, args, mounts):
        """(command, environment) of the venv's Python: the only isolation without an engine."""
        where = {name: str(Path(host).resolve()) for name, (host, _) in mounts.items()}
        env = dict(os.environ, **THREAD_ENV, **dict(built.runtime), PYTHONPATH=str(INSIDE.parent))
        return [str(Path(built.tag) / "bin" / "python"), "-m", f"inside.{module}", *_fill(args, where)], env

    def _docker(self, built, module, args, mounts, timeout, limits, user, sandbox, job):
        """In a container with no network."""
        command, binds, env, labels = self._container(built, module, args, mounts, job)
        limits = limits or Limits()
        return engine.run(self.client, built.tag, command, mounts=binds, environment=env, user=user or limits.user,
                          network=False, mem_limit=limits.memory, pids_limit=limits.pids, timeout=timeout,
                          sandbox=sandbox, labels=labels, working_dir=HARNESS_MOUNT)

    def start(self, built, module, args, mounts, *, limits=None, job=None):
        """Start a module whose stdout is read as it comes (the load stage's results channel):
        a sandboxed container, or a venv child process (no isolation); returns a Streamed."""
        if self.backend != "docker":
            return ProcessStream(*self._venv_command(built, module, args, mounts))
        command, binds, env, labels = self._container(built, module, args, mounts, job)
        limits = limits or Limits()
        return engine.start(self.client, built.tag, command, mounts=binds, environment=env, user=limits.user,
                            mem_limit=limits.memory, pids_limit=limits.pids, labels=labels,
                            working_dir=HARNESS_MOUNT)

    def stop(self, job):
        """Remove a container a killed run left working on this job (docker only)."""
        self.stop_jobs([job])

    def stop_jobs(self, jobs):
        """Remove the containers a killed run left working on any of these jobs, in one listing."""
        if self.backend == "docker" and jobs:
            key = f"{engine.LABEL}.job"
            engine.kill_any_labelled(self.client, key, [_job_labels(job)[key] for job in jobs])

    def _venv(self, built, module, args, mounts, timeout):
        """A child process of the venv's Python, run to completion."""
        command, env = self._venv_command(built, module, args, mounts)
        try:
            proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            return -9, exc.stdout or "", f"timed out after {timeout}s"
        return proc.returncode, proc.stdout, proc.stderr


class ProcessStream:
    """A local child process read like a Streamed container (the virtualenv backend)."""

    def __init__(self, command, env):
        import tempfile

        self._err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=self._err,
                                     stdin=subprocess.DEVNULL)

    def chunks(self):
        """Its stdout, in pieces, until it exits or is killed."""
        while True:
            chunk = self.proc.stdout.read1(1 << 16)
            if not chunk:
                return
            yield chunk

    def kill(self):
        """Stop it at once."""
        if self.proc.poll() is None:
            self.proc.kill()

    def finish(self, tail=200):
        """(exit code, the last lines of its stderr)."""
        self.proc.stdout.close()
        code = self.proc.wait()
        size = self._err.seek(0, os.SEEK_END)
        self._err.seek(max(0, size - (1 << 16)))
        err = self._err.read().decode("utf-8", "replace")
        self._err.close()
        return code, "\n".join(err.splitlines()[-tail:])


def _job_labels(job):
    """The label that names a container's job."""
    return {f"{engine.LABEL}.job": hashlib.sha256(str(job).encode()).hexdigest()[:32]} if job else None


def _fill(args, where):
    """Substitute {name} placeholders with the paths the environment sees."""
    return [arg.format(**where) for arg in args]


def host_user():
    """uid:gid of the caller, so files a container writes stay theirs."""
    return f"{os.getuid()}:{os.getgid()}"


# How much slower an emulated environment is than a native one, for scheduling only (measured
# here: loads 7.5 cells/s against about 50, dumps 260-632 s against 13-45 s).
EMULATION_COST = 8


def run_stoppably(work, items, jobs, stop, cost=None):
    """[work(item) for item in items], a few at a time, costliest first (cost: item -> estimate), so
    the slowest one does not start last and run alone; on Ctrl-C, stop() removes the containers
    the workers wait on, so the interrupt ends the run at once instead of after every container."""
    items = list(items)
    order = sorted(range(len(items)), key=lambda i: -cost(items[i])) if cost else range(len(items))
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {i: pool.submit(work, items[i]) for i in order}
        try:
            return [futures[i].result() for i in range(len(items))]
        except KeyboardInterrupt:
            for future in futures.values():
                future.cancel()
            stop()
            raise

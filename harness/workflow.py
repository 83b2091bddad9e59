"""The stages of a run, in order, each printing its progress: resolve, build, dump, load, merge, report."""

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

from .stages import dump as dumps, freshness, load as loads, overlap
from .envs import engine, images, venvs, wheels
from .report import collect
from .core.platforms import HOST_ARCH
from .core.errors import ArtifactError
from .core.cache import Cache
from .config.matrix import narrowed
from .envs.runner import Runner
from .stages.tree import RunTree
from .core.untrusted import TERM_LIMIT, term_text
from .core.source import IMAGES



_PRINTING = threading.Lock()


def say(line, limit=TERM_LIMIT):
    """Print one progress line now (nox and CI buffer otherwise), whole even from worker threads.

    Lines quote errors and names from environments and artifacts: control characters (ESC, CR,
    newlines) are shown escaped, so no output can move the cursor, recolour or fake a line.
    """
    text = term_text(line, limit)
    with _PRINTING:
        print(text, flush=True)


def choose_backend(name="auto"):
    """'docker' when an engine answers (required for name='docker'), else 'venv' with a plain warning."""
    if name == "docker":
        engine.connect().close()
        return "docker"
    if name == "venv":
        say(VENV_WARNING)
        return "venv"
    if engine.available():
        return "docker"
    if can_set_up_engine():
        say(f"no container engine answers: bringing one up with {ENGINE_SETUP.relative_to(ENGINE_SETUP.parents[1])} "
            "(root on Debian: it installs docker.io and qemu-user-static from Debian and starts dockerd)")
        code = subprocess.run(["bash", str(ENGINE_SETUP)]).returncode
        if code == 0 and engine.available():
            say("engine up: running in containers")
            return "docker"
        say(f"the engine setup did not bring up an engine (exit {code})")
    say(f"no container engine answers: falling back to virtualenvs from local Pythons (this machine's "
        f"architecture only). {VENV_WARNING} {venvs.HOW_TO_DOCKER}")
    return "venv"


ENGINE_SETUP = IMAGES / "setup-engine.sh"


def can_set_up_engine():
    """Whether auto may bring up the local engine itself: root on Debian with apt, in a checkout
    that has the setup script, no other engine named by DOCKER_HOST, and not turned off."""
    return (os.geteuid() == 0 and Path("/etc/debian_version").exists() and shutil.which("apt-get") is not None
            and ENGINE_SETUP.exists() and not os.environ.get("DOCKER_HOST")
            and os.environ.get("SKLMATRIX_NO_ENGINE_SETUP") != "1")


# What a user gives up by choosing the virtualenv backend (README, "The sandbox").
VENV_WARNING = ("warning: the virtualenv backend does not sandbox artifacts: a hostile model file runs with your "
                "user's rights, may read and write your files and the network, and can forge its consumer's results.")


def resolve_stage(matrix, jobs=2, refresh=False, cache=None):
    """Locks for every environment, printing one line each."""
    cache = cache or Cache.default()
    total = len(matrix.envs)
    done = []

    def progress(env, lock):
        done.append(env.id)
        head = f"[{len(done)}/{total}] wheels {env.id}:"
        if not lock.ok:
            say(f"{head} DROPPED: {lock.error}")
            return
        state = "cached" if lock.cached else f"resolved in {lock.seconds:.0f}s"
        extra = "".join(f"; {fmt} n/a" for fmt, _ in lock.missing)
        say(f"{head} {len(lock.wheels)} wheels, {state}{extra}")

    return wheels.resolve_all(matrix.envs, cache, jobs=jobs, refresh=refresh, progress=progress)


def build_stage(matrix, jobs=2, refresh=False, cache=None, backend="docker", tree=None, client=None):
    """Resolve then build every environment of the matrix with the chosen backend (client: the
    run's engine connection, else a new one)."""
    cache = cache or Cache.default()
    if backend == "docker" and client is None:
        client = engine.connect()
    locks = resolve_stage(matrix, jobs=jobs, refresh=refresh, cache=cache)
    if backend == "docker":
        results = images.build_all(client, matrix, locks, cache, say=say, jobs=jobs)
    else:
        results = venvs.build_all(matrix, locks, cache, say=say)
    if tree is not None:
        for built in results:
            tree.save_status("build", built.to_json())
    built = sum(1 for r in results if r.ok and not r.cached)
    fresh = sum(1 for r in results if r.cached)
    failed = len(results) - built - fresh
    say(f"environments ({backend}): {built} built, {fresh} up to date, {failed} failed or not covered")
    return locks, results


class Run:
    """One matrix run: the backend, the results tree and the stages that fill it."""

    def __init__(self, matrix, backend="auto", jobs=2, refresh=False, reports="reports", shard=None):
        self.matrix = matrix
        self.backend = choose_backend(backend)
        self.jobs, self.refresh = jobs, refresh
        self.tree = RunTree.for_matrix(matrix, reports, shard)
        self.runner = Runner(self.backend, engine.connect() if self.backend == "docker" else None)
        self.locks, self.builds = [], {}
        self._skip_report = False  # set by a merge that found the results and the page current
        self._model = None  # the report's view model, made by the merge as it wrote the results
        self.helpers = None  # loads.Helpers while overlapped stages let idle slots join emulated loads

    def build(self, selected=None, jobs=None):
        """Resolve and build the environments (all of them by default), jobs at a time."""
        locks, results = build_stage(selected or self.matrix, jobs or self.jobs, self.refresh,
                                     backend=self.backend, tree=self.tree, client=self.runner.client)
        self.locks += locks
        self.builds.update({b.env_id: b for b in results})
        return results

    def dump(self, selected=None, jobs=None):
        """Dump the artifacts of the environments (built first when needed)."""
        selected = selected or self.matrix
        missing = [e for e in selected.envs if e.id not in self.builds]
        if missing:
            self.build(narrowed(selected, missing), jobs)
        results = dumps.dump_all(self.runner, selected, self.builds, self.tree, say=say, jobs=jobs or self.jobs)
        for result in results:
            self.tree.save_status("dump", result.to_json())
        return results

    def load(self, selected=None, only=None, producers=None, jobs=None):
        """Load every dumped producer's artifacts (or those of producers) in the selected consumers
        (only: a cell glob)."""
        selected = selected or self.matrix
        dumped = collect.dumped_producers(self.matrix, self.tree)
        producers = dumped if producers is None else [p for p in dumped if p in producers]
        _check_dumps(self.tree, producers, self.matrix.name)  # before any build: fails fast
        missing = [e for e in selected.envs if e.id not in self.builds]
        if missing:
            self.build(narrowed(selected, missing), jobs)
        emulated = {env.arch for env in self.matrix.envs if env.arch != HOST_ARCH}
        results = loads.load_all(self.runner, selected, self.builds, producers, self.tree, say=say,
                                 jobs=jobs or self.jobs, emulated=emulated, only=only,
                                 missing={lock.env_id: dict(lock.missing) for lock in self.locks},
                                 helpers=self.helpers)
        if only:
            self.show(selected, only)
        return results

    def stop_all(self):
        """Remove the containers of every dump and load of the matrix (an interrupted run)."""
        self.runner.stop_jobs([self.tree.artifacts(env.id) for env in self.matrix.envs])
        loads.stop_loaders(self.runner, self.tree, *(env.id for env in self.matrix.envs))

    def show(self, selected, only):
        """Print the latest record of the cells matching a glob (to reproduce one cell)."""
        import fnmatch
        import json

        from .results.cells import read_all

        for env in selected.envs:
            for record in read_all(self.tree.result_files(env.id)).values():
                name = f"{record.get('producer')}/{record.get('estimator')}/{record.get('format')}"
                if fnmatch.fnmatchcase(name, only):
                    # ensure_ascii: every control character of the record is a \u escape already; say()
                    # takes the JSON line by line, whole (the record is what the user asked to see).
                    for line in json.dumps(record, indent=1, sort_keys=True, ensure_ascii=True).splitlines():
                        say(line, limit=None)

    def everything(self):
        """build, dump, load, merge and report: the whole matrix; merge and report are skipped
        when nothing they read changed since they last ran. Returns {"cells": n, "proof": ...}."""
        start, stages, outputs = time.monotonic(), {}, {}
        steps = [("build", self.build), ("dump", self.dump), ("load", self.load)]
        if overlap.worth_it(self):  # native work goes on while emulated environments build and dump
            steps = [("build, dump and load, overlapped", lambda: overlap.run(self, say))]
        for stage, action in steps + [("merge", self._merge), ("report", self.report)]:
            began = time.monotonic()
            outputs[stage] = action()
            stages[stage] = round(time.monotonic() - began, 1)
        summary = outputs["merge"]
        if summary.pop("fresh", False):
            freshness.record(self.matrix, self.tree, self.locks, summary)
        self.tree.record_timings(stages)
        say(f"{summary['cells']} cells in {self.tree.results_json} ({time.monotonic() - start:.0f}s: "
            + ", ".join(f"{k} {v:.0f}s" for k, v in stages.items()) + f"); report: {self.tree.root / 'index.html'}")
        return summary

    def _merge(self):
        """The results written anew (marked "fresh"), or the last merge's summary when current."""
        last = freshness.current(self.matrix, self.tree, self.locks)
        if last is not None:
            say("merge: nothing changed since the last merge and report: both kept")
            self._skip_report = True
            return dict(last)
        self._skip_report = False
        merged = collect.write_results(self.matrix, self.tree, self.locks, model=True)
        blocks = merged["blocks"]
        say(f"merge: {blocks['kept']} blocks of cells (a consumer's from one producer) kept from the last merge, "
            f"{blocks['made']} made from the load stage's lines")
        self._model = merged.pop("model")  # made in the merge's pass: the report reads no file again
        return dict(merged, fresh=True)

    def report(self):
        """Render the HTML report from the results (unless the merge found both current)."""
        if self._skip_report:
            return None
        from .report import render  # jinja2 with it: not on a run that renders nothing

        model, self._model = self._model, None
        return render.render(self.tree.root, model=model)


def _check_dumps(tree, producers, matrix_name):
    """ArtifactError when a producer's files changed since its dump: loading them would record
    damage on this disk as incompatibility."""
    bad = [path for producer in producers for path in dumps.damaged(tree, producer)]
    if bad:
        first = bad[0].split("/")[0]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise ArtifactError(
            f"{tree.root / 'artifacts' / bad[0]} is missing, truncated or changed since its dump{more}",
            hint=f"run `python -m harness dump --matrix {matrix_name} {first}` again: a damaged dump is made anew")

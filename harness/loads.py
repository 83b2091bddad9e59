"""The load stage: every consumer loads every producer's artifacts in one sandboxed container."""

import contextlib
import fnmatch
import os
import threading
import time
from dataclasses import dataclass

from . import cells as cells_mod
from . import engine
from .errors import SelectionError
from .inside.schema import SCHEMA_VERSION, TRUSTED_ROOTS
from .layout import write_json
from .runner import EMULATION_COST, Limits, run_stoppably
from .store import inside_hash

CELL_TIMEOUT = 60
EMULATED_CELL_TIMEOUT = 300  # arm64 under qemu: imports alone take seconds
CELL_MEMORY = 2 << 30


@dataclass(frozen=True)
class Loaded:
    """What happened to one consumer's load run."""

    env_id: str
    ok: bool
    total: int = 0
    computed: int = 0
    seconds: float = 0.0
    error: str = ""


def sandbox_record():
    """What a consumer's container allows the artifacts it loads: results.json and the report say it."""
    limits = Limits()
    return {"network": "none", "root file system": f"read-only, with a {_size(engine.SANDBOX_TMP)} /tmp in memory",
            "artifacts": "mounted read-only", "user": f"{limits.user} (not root)",
            "capabilities": "all dropped, no privilege escalation", "container memory": _size(limits.memory),
            "processes": f"{limits.pids} at most", "per cell": f"a forked child with {CELL_MEMORY >> 30} GiB of address "
            f"space and {CELL_TIMEOUT} s ({EMULATED_CELL_TIMEOUT} s under emulation), its process group killed after",
            "skops": f"only types of {', '.join(TRUSTED_ROOTS)} are trusted; other files are refused unloaded"}


def _size(text):
    """Docker's "256m" as "256 MB"."""
    units = {"k": "kB", "m": "MB", "g": "GB"}
    return f"{text[:-1]} {units[text[-1]]}" if text[-1:] in units else text


def _tolerances(matrix):
    """Tolerances as the inside loader reads them."""
    out = {"default": {"rtol": matrix.tolerance.rtol, "atol": matrix.tolerance.atol}}
    for fmt in matrix.formats:
        tol = matrix.tolerance_for(fmt)
        out[fmt] = {"rtol": tol.rtol, "atol": tol.atol}
    return out


@dataclass(frozen=True)
class Plan:
    """A consumer's cells: all it should have, and those not computed yet."""

    wanted: tuple
    done: int
    todo: tuple


def plan_env(matrix, env, built, producers, tree, only=None):
    """Which cells of a consumer are missing from its results file (only: recompute matching cells)."""
    if not built.ok:
        return Plan((), 0, ())
    wanted = cells_mod.cells_for(built.identity, producers, tree, matrix, inside_hash())
    cells_mod.repair_tail(tree.results(env.id))
    done = cells_mod.read_all(tree.result_files(env.id))
    wanted = [c for c in wanted if cells_mod.in_shard(c, tree.shard)]
    if only:
        chosen = tuple(c for c in wanted if fnmatch.fnmatchcase(f"{c.producer}/{c.estimator}/{c.format}", only))
        return Plan(tuple(wanted), len(done), chosen)
    return Plan(tuple(wanted), len(done), tuple(c for c in wanted if c.key not in done))


def load_env(runner, matrix, env, built, plan, tree, emulated=False, only=None, separate=(), cell_timeout=None):
    """Load every cell this consumer has not computed yet, appending to its results file."""
    if not built.ok:
        return Loaded(env.id, False, error=f"environment failed to build: {built.error}")
    wanted, results = plan.wanted, tree.results(env.id)
    if not plan.todo:
        return Loaded(env.id, True, total=len(wanted))
    todo, siblings = cells_mod.dedupe(plan.todo, separate)
    tasks = tree.tasks(env.id)
    write_json(tasks, {"schema": SCHEMA_VERSION, "consumer": env.id, "tolerances": _tolerances(matrix),
                       "cells": [cell.to_task() for cell in todo]})
    os.chmod(tasks, 0o644)  # the sandbox's unprivileged user reads it
    cells_mod.open_for_append(results)
    cell_timeout = cell_timeout or (EMULATED_CELL_TIMEOUT if emulated else CELL_TIMEOUT)
    start = time.monotonic()
    code, stdout, stderr = runner.run(
        built, "load",
        ["--tasks", "{tasks}", "--artifacts", "{artifacts}", "--out", "{results}", "--consumer", env.id,
         "--timeout", str(cell_timeout), "--memory", str(CELL_MEMORY)],
        {"tasks": (tasks, True), "artifacts": (tree.root / "artifacts", True), "results": (results, False)},
        timeout=cell_timeout * len(todo) + 600, limits=Limits(), sandbox=True, job=results)
    log = tree.load_log(env.id)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(stdout + stderr, encoding="utf-8")
    cells_mod.copy_siblings(results, siblings)
    seconds = time.monotonic() - start
    computed = len(cells_mod.read_all(tree.result_files(env.id))) - plan.done if not only else len(plan.todo)
    if code != 0:
        last = (stderr.strip().splitlines() or ["no output"])[-1]
        return Loaded(env.id, False, len(wanted), computed, seconds, f"loader exited {code}: {last} (log: {log})")
    return Loaded(env.id, True, len(wanted), computed, seconds)


class Progress:
    """Prints environments done, cells per second and time left while consumers run."""

    def __init__(self, tree, envs, say, every=10.0):
        self.tree, self.envs, self.say, self.every = tree, envs, say, every
        self.finished = 0
        self.todo = 0
        self.todo_by_env = {}
        self.base = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self):
        self.base = {env.id: cells_mod.count_lines(self.tree.results(env.id)) for env in self.envs}
        self.start = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _loop(self):
        first = {}  # when each consumer's first cell was seen: its own rate, for the slowest one's tail
        while not self._stop.wait(self.every):
            now = time.monotonic()
            done = {e.id: cells_mod.count_lines(self.tree.results(e.id)) - self.base[e.id] for e in self.envs}
            for env_id, count in done.items():
                if count > 0:
                    first.setdefault(env_id, (now, count))
            total = sum(done.values())
            rate = total / max(now - self.start, 1e-9)
            self.say(f"  load: {self.finished}/{len(self.envs)} consumers done, {total} cells, "
                     f"{rate:.1f} cells/s{self._left(done, first, rate, now)}")

    def _left(self, done, first, rate, now):
        """", ~N min left": all the work at the overall rate, or the slowest running consumer's rest
        at its own rate (an emulated consumer finishing alone), whichever is longer."""
        if rate <= 0 or not self.todo:
            return ""
        seconds = (self.todo - sum(done.values())) / rate
        for env_id, (since, count) in first.items():
            rest = self.todo_by_env.get(env_id, 0) - done[env_id]
            own = (done[env_id] - count) / max(now - since, 1e-9)
            if rest > 0 and own > 0:
                seconds = max(seconds, rest / own)
        return f", ~{seconds / 60:.0f} min left"


def load_all(runner, matrix, built_by_id, producers, tree, say=print, jobs=2, emulated=(), only=None,
             missing=None):
    """Run every consumer, a few at a time; one failure never stops the others."""
    with contextlib.ExitStack() as locks:
        for env in matrix.envs:
            # Locked first: the containers stopped next are a killed run's, never a live one's.
            locks.enter_context(tree.consumer_lock(env.id))
            runner.stop(job=tree.results(env.id))  # before reading results: no writer may be left
        return _load_locked(runner, matrix, built_by_id, producers, tree, say, jobs, emulated, only, missing)


def _load_locked(runner, matrix, built_by_id, producers, tree, say, jobs, emulated, only, missing):
    """load_all's work, once this process alone writes every consumer's results."""
    plans = {env.id: plan_env(matrix, env, built_by_id[env.id], producers, tree, only) for env in matrix.envs}
    if only and not any(plan.todo for plan in plans.values()):
        raise SelectionError(f"no dumped artifact matches --only {only!r} (producer/estimator/format)")
    with Progress(tree, matrix.envs, say) as progress:
        progress.todo_by_env = {env_id: len(plan.todo) for env_id, plan in plans.items()}
        progress.todo = sum(progress.todo_by_env.values())
        say(f"load: {progress.todo} cells to compute, "
            f"{sum(len(p.wanted) - len(p.todo) for p in plans.values())} already in the results")

        def one(env):
            try:
                result = load_env(runner, matrix, env, built_by_id[env.id], plans[env.id], tree,
                                  emulated=env.arch in emulated, only=only,
                                  separate=(missing or {}).get(env.id, ()))
            except Exception as exc:  # the engine failing for one consumer must not stop the others
                result = Loaded(env.id, False, error=f"{type(exc).__name__}: {exc}")
            progress.finished += 1
            head = f"[{progress.finished}/{len(matrix.envs)}] load {env.id}:"
            if not result.ok:
                say(f"{head} FAILED: {result.error}")
            elif result.computed == 0:
                say(f"{head} up to date ({result.total} cells)")
            else:
                rate = result.computed / max(result.seconds, 1e-9)
                say(f"{head} {result.computed} cells in {result.seconds:.0f}s ({rate:.1f}/s), {result.total} in all")
            return result

        return run_stoppably(one, matrix.envs, jobs, lambda: [runner.stop(job=tree.results(e.id)) for e in matrix.envs],
                             cost=lambda env: len(plans[env.id].todo) * (EMULATION_COST if env.arch in emulated else 1))

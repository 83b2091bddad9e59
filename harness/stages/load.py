"""The load stage: every consumer loads every producer's artifacts in one sandboxed container."""

import contextlib
import fnmatch
import functools
import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass

from ..results import canaries
from ..results import cells as cells_mod
from ..envs import engine
from ..results.record import blank as blank_result
from . import trust
from ..core.errors import SelectionError
from ..inside.schema import CELL_MEMORY, CELL_TIMEOUT, SCHEMA_VERSION, Status
from ..core.files import write_json
from ..core.untrusted import UntrustedInput, loads_bounded
from ..envs.runner import EMULATION_COST, Limits, run_stoppably
from .tree import inside_hash

EMULATED_CELL_TIMEOUT = 300  # arm64 under qemu: imports alone take seconds


def _judge():
    """harness.results.judge, imported once a cell is judged: it brings numpy, which a run with
    every consumer complete never needs."""
    from ..results import judge

    return judge


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
    """What a consumer's container allows the artifacts it loads: the results and the report say it."""
    limits = Limits()
    return {"network": "none", "root file system": f"read-only, with a {_size(engine.SANDBOX_TMP)} /tmp in memory",
            "artifacts": "mounted read-only", "user": f"{limits.user} (not root)",
            "capabilities": "all dropped, no privilege escalation", "container memory": _size(limits.memory),
            "processes": f"{limits.pids} at most", "per cell": f"a forked child with {CELL_MEMORY >> 30} GiB of address "
            f"space and {CELL_TIMEOUT} s ({EMULATED_CELL_TIMEOUT} s under emulation), in its own session, with no "
            "descriptor of the loader's and no ptrace or cross-process memory calls; every process of the container "
            "but the loader is killed after it",
            "loader": "PID 1 of the container, not dumpable, ignoring every signal: no cell can read, write, trace "
            "or signal it; it returns raw outputs on its own stdout, and the host judges them",
            "skops": "only the exact types honest reference dumps need are trusted (no function or method); "
            "other files are refused unloaded",
            "onnx": "models with external data or custom operator domains are refused before a session exists"}


def _size(text):
    """Docker's "256m" as "256 MB"."""
    units = {"k": "kB", "m": "MB", "g": "GB"}
    return f"{text[:-1]} {units[text[-1]]}" if text[-1:] in units else text


@dataclass(frozen=True)
class Plan:
    """A consumer's cells: all it should have, and those not computed yet."""

    wanted: tuple
    done: int
    todo: tuple
    total: int = -1  # cells wanted, where wanted is not listed (a complete consumer, planned from its stamp)
    inputs: str = ""  # plan_inputs: what the wanted cells were computed from

    @property
    def size(self):
        """How many cells the consumer should have."""
        return len(self.wanted) if self.total < 0 else self.total


def _write_canaries(tree, producer):
    """The canaries of a producer's dump, written into its folder before its own load; a folder
    that would lead them elsewhere (a planted link) gets none, and the report says so. Returns
    what identifies them (their artifacts' and records' hashes), for the consumer's plan inputs."""
    manifest = cells_mod.read_manifest(tree.manifest(producer))
    if manifest is None:
        return []
    try:
        made = canaries.plan(tree.artifacts(producer), manifest)
        canaries.write(tree.artifacts(producer), made)
    except (OSError, UntrustedInput):
        return []
    return [[c.name, c.sha256, c.outputs_sha256] for c in made]


def plan_env(matrix, env, built, producers, tree, only=None):
    """Which cells of a consumer are missing from its results file (only: recompute matching cells)."""
    if not built.ok:
        return Plan((), 0, ())
    # The canaries are made from the dump but not listed in its manifest: their records are inputs too.
    made = _write_canaries(tree, env.id) if env.id in producers else []
    cells_mod.repair_tail(tree.results(env.id))
    inputs = plan_inputs(matrix, built, producers, tree, made)
    stamp = tree.complete_stamp(env.id)
    if not only and stamp and stamp.get("inputs") == inputs and stamp.get("files") == _files(tree, env.id):
        # Nothing the wanted cells come from changed, nor the results that held them all.
        return Plan((), stamp.get("cells", 0), (), total=stamp.get("cells", 0), inputs=inputs)
    wanted = cells_mod.cells_for(built.identity, producers, tree, matrix, inside_hash(), consumer=env.id)
    wanted = tuple(c for c in wanted if cells_mod.in_shard(c, tree.shard))
    done = cells_mod.read_all(tree.result_files(env.id))
    if only:
        chosen = tuple(c for c in wanted if fnmatch.fnmatchcase(f"{c.producer}/{c.estimator}/{c.format}", only))
        return Plan(wanted, len(done), chosen, inputs=inputs)
    todo = tuple(c for c in wanted if c.key not in done)
    if not todo:
        mark_complete(tree, env.id, len(wanted), inputs)
    return Plan(wanted, len(done), todo, inputs=inputs)


def plan_inputs(matrix, built, producers, tree, canaries_made=()):
    """A hash of what a consumer's wanted cells are computed from: its identity, the inside code
    and judge, the tolerances, the shard, each producer's manifest (replaced by every dump) and
    the canaries of its own dump."""
    parts = [built.identity, inside_hash(), list(tree.shard or ()), repr(matrix.tolerance),
             repr(matrix.format_tolerances), list(canaries_made)]
    for producer in producers:
        info = tree.manifest(producer).stat()
        parts.append([producer, info.st_size, info.st_mtime_ns, info.st_ino])
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


def _files(tree, env_id):
    """The consumer's results files as they are (append-only: any change shows in size, mtime or inode)."""
    out = []
    for path in tree.result_files(env_id):
        info = path.stat()
        out.append([path.name, info.st_size, info.st_mtime_ns, info.st_ino])
    return out


def mark_complete(tree, env_id, cells, inputs):
    """Record that the consumer's results hold every one of its cells wanted from inputs."""
    tree.mark_complete(env_id, {"inputs": inputs, "cells": cells, "files": _files(tree, env_id)})


GRACE = 30               # seconds past a cell's timeout before a silent loader is stopped
EMULATED_GRACE = 120
WARM_UP = 600            # seconds a loader may take to import its stack before its first cell
EMULATED_WARM_UP = 1800
MAX_OUTPUTS_JSON = 64 << 20  # bytes of one producer record read by the host


class ProducerRecords:
    """Producers' outputs.json files, read by the host with bounds and checked against the hash
    their cell's key was made with; an unusable one costs only its own cells."""

    def __init__(self, tree):
        self.tree = tree

    def get(self, cell):
        """The parsed record, or the reason it cannot be used (a str)."""
        return self._read(cell.outputs, cell.outputs_sha256)

    def own(self, consumer, estimator):
        """The consumer's own record of an estimator, fitted by its own dump on the same data
        (what a retrain there gives), or None."""
        rec = self._own_outputs(consumer).get(estimator)
        if rec is None:
            return None
        found = self._read(f"{consumer}/{rec['file']}", rec.get("sha256") or "")
        return found if isinstance(found, dict) else None

    @functools.lru_cache(maxsize=64)
    def _own_outputs(self, consumer):
        manifest = cells_mod.read_manifest(self.tree.manifest(consumer)) or {}
        return {e["name"]: e["outputs"] for e in manifest.get("estimators", [])
                if e.get("status") == "ok" and isinstance(e.get("outputs"), dict)}

    @functools.lru_cache(maxsize=256)
    def _read(self, rel, sha256):
        path = self.tree.root / "artifacts" / rel
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_OUTPUTS_JSON + 1)
            if len(data) > MAX_OUTPUTS_JSON:
                return f"{rel} is over {MAX_OUTPUTS_JSON >> 20} MB"
            if hashlib.sha256(data).hexdigest() != sha256:
                return f"{rel} changed since its producer's manifest was written"
            return _judge().producer_record(loads_bounded(data.decode("utf-8"), what=rel))
        except (OSError, ValueError) as exc:  # UntrustedInput and judge.Unusable among them
            return f"{rel}: {exc}"


class _Results:
    """The host's append-only results file of one consumer: a line per judged cell, synced
    every second (a kill of the host loses nothing written; a crash of the machine a second)."""

    def __init__(self, path):
        cells_mod.open_for_append(path)
        cells_mod.repair_tail(path)
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        self.synced = time.monotonic()
        self.count = 0
        self.lock = threading.Lock()

    def write(self, line):
        data = (json.dumps(line, sort_keys=True, allow_nan=True) + "\n").encode("utf-8")
        with self.lock:  # helpers' loaders append to the same file: one whole line at a time
            os.write(self.fd, data)
            self.count += 1
            if time.monotonic() - self.synced > 1.0:
                os.fsync(self.fd)
                self.synced = time.monotonic()

    def close(self):
        os.fsync(self.fd)
        os.close(self.fd)


def _lines(stream, limit):
    """Complete lines of a stream; a line over limit ends it with None (a broken channel)."""
    parts, size = [], 0
    for chunk in stream.chunks():
        while b"\n" in chunk:
            head, chunk = chunk.split(b"\n", 1)
            yield b"".join(parts) + head
            parts, size = [], 0
        if chunk:
            parts.append(chunk)
            size += len(chunk)
        if size > limit:
            yield None
            return


class _Watchdog:
    """Stops a loader that says nothing for longer than its allowance."""

    def __init__(self, stream, allowance):
        self.stream, self.allowance, self.fired = stream, allowance, False
        self.last = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def heard(self, allowance=None):
        self.last = time.monotonic()
        if allowance is not None:
            self.allowance = allowance

    def _loop(self):
        while not self._stop.wait(1.0):
            if time.monotonic() - self.last > self.allowance:
                self.fired = True
                self.stream.kill()
                return

    def stop(self):
        self._stop.set()


@dataclass
class _Attempt:
    """What one loader container did with the groups handed to it."""

    answered: int = 0
    ready: bool = False
    problem: str = ""     # why the channel was cut: silent, a broken line, a foreign key
    code: int = 0
    stderr: str = ""


def _run_loader(runner, matrix, env, built, groups, tree, records, out, cell_timeout, emulated, keep=None, part=0):
    """One loader container over groups (each loaded once, judged once per member); keep, when
    given, receives each group's loader record by its first cell's key (check compares
    consumers with each other); part > 0: a helper's loader, beside the consumer's own."""
    tasks = tree.tasks(env.id, part)
    cells = [group[0].to_task(records.get(group[0])["input_sha256"]) for group in groups]
    write_json(tasks, {"schema": SCHEMA_VERSION, "consumer": env.id, "cells": cells, **trust.policy()})
    os.chmod(tasks, 0o644)  # the sandbox's unprivileged user reads it
    stream = runner.start(
        built, "load",
        ["--tasks", "{tasks}", "--artifacts", "{artifacts}", "--timeout", str(cell_timeout),
         "--memory", str(CELL_MEMORY), *(["--require-init"] if runner.backend == "docker" else [])],
        {"tasks": (tasks, True), "artifacts": (tree.root / "artifacts", True)}, limits=Limits(),
        job=jobs_of(tree, env.id)[part])
    grace = EMULATED_GRACE if emulated else GRACE
    dog = _Watchdog(stream, EMULATED_WARM_UP if emulated else WARM_UP)
    attempt = _Attempt()
    try:
        for raw in _lines(stream, cells_mod.MAX_LINE):
            dog.heard(cell_timeout + grace)
            record = _record(raw)
            if record is None:
                attempt.problem = "its results channel carried a line that is not a record"
                break
            if record.get("event") == "ready":
                attempt.ready = True
                continue
            if record.get("event") == "done":
                continue
            i = attempt.answered
            if record.get("event") != "cell" or i >= len(groups) or record.get("i") != i \
                    or record.get("key") != groups[i][0].key:
                attempt.problem = f"its results channel named a cell out of turn (expected #{i})"
                break
            if keep is not None:
                keep[groups[i][0].key] = record
            memo = _judge().Memo()  # the record is parsed and decoded once for all its judgements
            for n, cell in enumerate(groups[i]):
                tol = matrix.tolerance_for(cell.format)
                line = _judge().judge(cell, env.id, record, records.get(cell), (tol.rtol, tol.atol), cell_timeout, memo)
                if n == 0 and isinstance(record.get("seconds"), (int, float)):
                    line["seconds"] = record["seconds"]  # the loader's time for the load, once per group
                if cell.producer != env.id and not cell.canary and hasattr(records, "own"):
                    _add_refit(line, cell, env.id, record, records.own(env.id, cell.estimator), (tol.rtol, tol.atol),
                               cell_timeout, memo)
                out.write(line)
            attempt.answered += 1
    finally:
        dog.stop()
        stream.kill()
        attempt.code, attempt.stderr = stream.finish()
    if dog.fired:
        attempt.problem = f"it said nothing for {dog.allowance:.0f} s"
    return attempt


REFIT_JUDGED = (Status.IDENTICAL, Status.CLOSE, Status.WARNING, Status.MISMATCH, Status.PREDICT_ERROR)


def _add_refit(line, cell, consumer, record, own, tol, timeout, memo):
    """Whether the loaded artifact predicts like the consumer's own fit of the same estimator on
    the same data: persistence effects apart from what the version itself changed."""
    if own is None or line["status"] not in REFIT_JUDGED:
        return
    refit = _judge().judge(cell, consumer, record, own, tol, timeout, memo)
    status, max_abs, _ = _judge().verdict(refit["methods"], [], missing_counts=cell.format != "onnx")
    line["refit"] = {"status": status, "max_abs": max_abs}


def _record(raw):
    """One line of the loader's channel as a dict, or None."""
    if raw is None:
        return None
    try:
        record = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return record if isinstance(record, dict) else None


EMULATED_BATCH = 600  # groups per emulated loader: a slot that frees up joins at the next batch
HELPER_PARTS = 2      # loaders that may help one consumer besides its own (part 0)
HELP_POLL = 1.0       # seconds an idle helper waits before it looks for a batch again


def jobs_of(tree, env_id):
    """The job names of a consumer's loaders: its own, then each helper part's."""
    results = tree.results(env_id)
    return [results] + [f"{results}#part{part}" for part in range(1, HELPER_PARTS + 1)]


class _Batches:
    """A consumer's groups, handed out a batch at a time to its own loader and to helpers."""

    def __init__(self, groups, size):
        self.groups, self.size, self.next = list(groups), max(1, size), 0
        self.lock = threading.Lock()
        self.closed = False

    def take(self):
        """The next batch, or None when none is left (or the consumer stopped)."""
        with self.lock:
            if self.closed or self.next >= len(self.groups):
                return None
            batch = self.groups[self.next:self.next + self.size]
            self.next += len(batch)
            return batch

    def left(self):
        """Groups not handed out yet."""
        with self.lock:
            return 0 if self.closed else len(self.groups) - self.next

    def close(self):
        """Hand out nothing more."""
        with self.lock:
            self.closed = True


class _Consumer:
    """One consumer's load in progress: its batches, and the loaders working on them."""

    def __init__(self, runner, matrix, env, built, tree, records, out, cell_timeout, emulated, batches):
        self.runner, self.matrix, self.env, self.built, self.tree = runner, matrix, env, built, tree
        self.records, self.out, self.cell_timeout, self.emulated = records, out, cell_timeout, emulated
        self.batches = batches
        self.error = ""
        self.logs = []
        self.busy = 0
        self.idle = threading.Condition()

    def drain(self, part=0, one=False):
        """Load batches until none is left (one: a single batch, a helper's turn)."""
        while True:
            with self.idle:  # taken and counted at once: wait_helpers never misses a batch in flight
                batch = self.batches.take()
                if batch is None:
                    return
                self.busy += 1
            try:
                self._batch(batch, part)
            finally:
                with self.idle:
                    self.busy -= 1
                    self.idle.notify_all()
            if one:
                return

    def wait_helpers(self):
        """Return once no loader works on this consumer any more."""
        with self.idle:
            self.idle.wait_for(lambda: self.busy == 0)

    def _batch(self, remaining, part):
        """One batch of groups, in as many loaders as crashes need; a loader that dies costs the
        cell it was on (a crash, with the evidence), and the rest go on."""
        while remaining:
            attempt = _run_loader(self.runner, self.matrix, self.env, self.built, remaining, self.tree,
                                  self.records, self.out, self.cell_timeout, self.emulated, part=part)
            self.logs.append(attempt.stderr)
            remaining = remaining[attempt.answered:]
            if not remaining:
                return
            last = (attempt.stderr.strip().splitlines() or ["no output"])[-1][:300]
            why = attempt.problem or f"it exited with code {attempt.code}"
            if not attempt.ready:
                self.error = self.error or f"the loader stopped before its first cell: {why}: {last}"
                self.batches.close()
                return
            for cell in remaining[0]:  # the cell it was on: a finding, never loaded again
                line = blank_result(cell, self.env.id)
                line.update(status=Status.CRASH, exit_code=attempt.code, error={
                    "type": "LoaderDied", "message": _judge().text(f"the loader stopped on this cell ({why}); "
                                                                f"its last words: {last}")})
                self.out.write(line)
            remaining = remaining[1:]


class Helpers:
    """Emulated consumers being loaded, whose batches a slot with nothing else to do can take:
    an emulated consumer left alone at the end of a run uses every slot, not one."""

    def __init__(self):
        self.lock = threading.Lock()
        self.open = {}

    def offer(self, consumer):
        with self.lock:
            self.open[consumer.env.id] = consumer

    def withdraw(self, consumer):
        with self.lock:
            self.open.pop(consumer.env.id, None)

    def help(self, part, until):
        """Load batches of the open consumers, the one with most left first, until the event is set."""
        while not until.is_set():
            with self.lock:
                open_ = sorted(self.open.values(), key=lambda c: -c.batches.left())
            if open_ and open_[0].batches.left():
                open_[0].drain(part=part, one=True)
            else:
                until.wait(HELP_POLL)


def load_env(runner, matrix, env, built, plan, tree, emulated=False, only=None, separate=(), cell_timeout=None,
             helpers=None):
    """Load every cell this consumer has not computed yet, appending to its results file; an emulated
    consumer's cells go in batches that helpers (idle slots) may share."""
    if not built.ok:
        return Loaded(env.id, False, error=f"environment failed to build: {built.error}")
    wanted = plan.wanted
    if not plan.todo:
        return Loaded(env.id, True, total=plan.size)
    cell_timeout = cell_timeout or (EMULATED_CELL_TIMEOUT if emulated else CELL_TIMEOUT)
    records = ProducerRecords(tree)
    out = _Results(tree.results(env.id))
    start, consumer = time.monotonic(), None
    try:
        usable = []
        for cell in plan.todo:
            expected = records.get(cell)
            if isinstance(expected, str):  # one bad producer record costs only its own cells
                line = blank_result(cell, env.id)
                line["error"] = {"type": "ProducerRecord", "message": _judge().text(expected)}
                out.write(line)
            else:
                usable.append(cell)
        inputs = {cell.key: records.get(cell)["input_sha256"] for cell in usable}
        groups = cells_mod.dedupe(usable, separate, inputs)
        shared = emulated and helpers is not None
        batches = _Batches(groups, EMULATED_BATCH if shared else len(groups))
        consumer = _Consumer(runner, matrix, env, built, tree, records, out, cell_timeout, emulated, batches)
        if shared:
            helpers.offer(consumer)
        try:
            consumer.drain()
        finally:
            if shared:
                helpers.withdraw(consumer)
            consumer.wait_helpers()
    finally:
        computed = out.count
        out.close()
        log = tree.load_log(env.id)
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("\n".join(consumer.logs if consumer else []), encoding="utf-8")
    seconds = time.monotonic() - start
    if consumer.error:
        return Loaded(env.id, False, len(wanted), computed, seconds, f"{consumer.error} (log: {log})")
    if not only and plan.inputs:  # every wanted cell has its line now: the next plan reads none
        mark_complete(tree, env.id, len(wanted), plan.inputs)
    return Loaded(env.id, True, len(wanted), computed, seconds)


def _end_of(path):
    """Where a file ends (its size in bytes), 0 when it does not exist."""
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0


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
        # Where each results file ends: lines are counted past it only (a warm run read them all, 4 times).
        self.base = {env.id: _end_of(self.tree.results(env.id)) for env in self.envs}
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
            done = {e.id: cells_mod.count_lines(self.tree.results(e.id), self.base[e.id]) for e in self.envs}
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
             missing=None, helpers=None):
    """Run every consumer, a few at a time; one failure never stops the others (helpers: idle slots
    that may share the emulated consumers' batches)."""
    with contextlib.ExitStack() as locks:
        for env in matrix.envs:
            # Locked first: the containers stopped next are a killed run's, never a live one's.
            locks.enter_context(tree.consumer_lock(env.id))
        stop_loaders(runner, tree, *(env.id for env in matrix.envs))  # before reading results: no writer left
        return _load_locked(runner, matrix, built_by_id, producers, tree, say, jobs, emulated, only, missing, helpers)


def stop_loaders(runner, tree, *env_ids):
    """Remove every loader container of these consumers: their own and their helpers'."""
    runner.stop_jobs([job for env_id in env_ids for job in jobs_of(tree, env_id)])


def _load_locked(runner, matrix, built_by_id, producers, tree, say, jobs, emulated, only, missing, helpers):
    """load_all's work, once this process alone writes every consumer's results."""
    plans = {env.id: plan_env(matrix, env, built_by_id[env.id], producers, tree, only) for env in matrix.envs}
    if only and not any(plan.todo for plan in plans.values()):
        raise SelectionError(f"no dumped artifact matches --only {only!r} (producer/estimator/format)")
    with Progress(tree, matrix.envs, say) as progress:
        progress.todo_by_env = {env_id: len(plan.todo) for env_id, plan in plans.items()}
        progress.todo = sum(progress.todo_by_env.values())
        say(f"load: {progress.todo} cells to compute, "
            f"{sum(p.size - len(p.todo) for p in plans.values())} already in the results")

        def one(env):
            try:
                result = load_env(runner, matrix, env, built_by_id[env.id], plans[env.id], tree,
                                  emulated=env.arch in emulated, only=only,
                                  separate=(missing or {}).get(env.id, ()), helpers=helpers)
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

        return run_stoppably(one, matrix.envs, jobs, lambda: stop_loaders(runner, tree, *(e.id for e in matrix.envs)),
                             cost=lambda env: len(plans[env.id].todo) * (EMULATION_COST if env.arch in emulated else 1))

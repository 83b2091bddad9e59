"""The layout of a run's results tree, reports/<run>/, and the stamps that make stages incremental."""

import contextlib
import fcntl
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from ..results import file as results_file
from ..core.errors import ConcurrentRunError
from ..core.files import write_json
from ..core.untrusted import STATUS_MAX, UntrustedInput, read_json_bounded, read_status
from ..core.source import DATA, HARNESS, INSIDE



# Modules only the load stage runs: changing them must not redo every dump.
LOAD_ONLY = "load"  # the package inside/load/
# What else a load verdict depends on, on the host: the judge and the trust policy.
JUDGES = (HARNESS / "results" / "judge.py", DATA / "trust.json")


def inside_hash(stage="load"):
    """A hash of the code that runs inside environments for a stage, and for loads of the code and
    policy that judge them: part of its cache keys."""
    digest = hashlib.sha256()
    for path in sorted(INSIDE.rglob("*.py")):
        name = path.relative_to(INSIDE).as_posix()
        if stage == "dump" and name.startswith(LOAD_ONLY + "/"):
            continue
        digest.update(name.encode() + b"\0" + path.read_bytes())
    if stage == "load":
        for path in JUDGES:
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


# What an up-to-date check says of itself (it found the image or dump made, in no time), not of the outcome.
_OF_THE_CHECK = ("cached", "seconds", "log_tail")


def _same_outcome(recorded, record):
    """Whether a stage's new record says what the recorded one says: the same record, or an
    up-to-date check (cached) of the outcome recorded when it was made, which stays, with the
    time it took: the first run after a cold one must find the merge current too."""
    if recorded == record:
        return True
    return bool(record.get("cached") and isinstance(recorded, dict) and recorded.get("ok") and record.get("ok")
                and all(recorded.get(k) == v for k, v in record.items() if k not in _OF_THE_CHECK))


@dataclass(frozen=True)
class RunTree:
    """Paths under reports/<run>/."""

    root: Path
    shard: tuple | None = None  # (i, n): this process computes the i-th of n slices of every consumer

    @classmethod
    def for_matrix(cls, matrix, reports="reports", shard=None):
        """The tree of a matrix's run: reports/<matrix name>/."""
        return cls(Path(reports).resolve() / matrix.name, shard)

    def artifacts(self, env_id):
        """One producer's dump folder."""
        return self.root / "artifacts" / env_id

    def manifest(self, env_id):
        """The manifest the dump writes last (absent: dump incomplete)."""
        return self.artifacts(env_id) / "manifest.json"

    def dump_stamp(self, env_id):
        """What a finished dump was made from: image and inside code."""
        return self.root / "stamps" / f"dump-{env_id}.json"

    def hashes(self, env_id):
        """The sha256 already computed of a producer's files, by their stat (hashcache.py)."""
        return self.root / "stamps" / f"hashes-{env_id}.json"

    def dump_log(self, env_id):
        """The dump's stderr."""
        return self.root / "logs" / f"dump-{env_id}.log"

    @property
    def _shard_suffix(self):
        """What tells this process's own files from other shards' (processes may share one tree)."""
        return f".shard-{self.shard[0]}-of-{self.shard[1]}" if self.shard else ""

    def results(self, env_id):
        """The append-only results (JSON lines) this process writes for one consumer."""
        return self.root / "cells" / f"{env_id}{self._shard_suffix}.jsonl"

    @contextlib.contextmanager
    def consumer_lock(self, env_id):
        """Hold this process's right to append to a consumer's results; ConcurrentRunError if another has it."""
        path = self.root / "locks" / f"load-{env_id}{self._shard_suffix}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ConcurrentRunError(
                    f"another process is loading {env_id} into {self.root}",
                    hint="wait for it, or give each process its own --shard I/N") from None
            yield  # the lock goes with the file's closing, also when the process dies

    def result_files(self, env_id):
        """Every results file of a consumer: its own and those merged from other shards."""
        folder = self.root / "cells"
        return sorted(folder.glob(f"{env_id}.jsonl")) + sorted(folder.glob(f"{env_id}.shard-*.jsonl"))

    def tasks(self, env_id, part=0):
        """The cells handed to one consumer's loader (part: a second loader helping it)."""
        return self.root / "tasks" / f"{env_id}{self._shard_suffix}{f'.part{part}' if part else ''}.json"

    def load_log(self, env_id):
        """The loader's output."""
        return self.root / "logs" / f"load-{env_id}{self._shard_suffix}.log"

    @property
    def results_json(self):
        """The merged results for machines (results_file.py: gzipped JSON, schema 3)."""
        return self.root / results_file.NAME

    @property
    def previous_results_json(self):
        """The results of the run before, for "what changed"."""
        return self.root / results_file.PREVIOUS

    @property
    def results_parquet(self):
        """The merged results, a row per cell, for analysis."""
        return self.root / results_file.PARQUET

    def status(self, stage, env_id):
        """The recorded outcome of a stage (build, dump) for one environment."""
        return self.root / "status" / f"{stage}-{env_id}.json"

    def save_status(self, stage, record):
        """Record a stage's outcome for an environment (merge reads these); the same outcome again
        leaves the file as it is, so that a run with nothing changed finds the merge current."""
        path = self.status(stage, record["env_id"])
        try:
            if _same_outcome(read_status(path), json.loads(json.dumps(record))):
                return
        except (OSError, ValueError):  # UntrustedInput among them: written anew
            pass
        write_json(path, record)

    def load_status(self, stage, env_id):
        """A stage's recorded outcome, or None; one that cannot be read (merged from another machine) is a failure."""
        try:
            return read_status(self.status(stage, env_id))
        except UntrustedInput as exc:
            return {"env_id": env_id, "ok": False, "error": f"status file refused: {exc}"}

    @property
    def timings_json(self):
        """Seconds per stage of the last whole runs, newest last (the benchmarks read them)."""
        return self.root / "timings.json"

    def record_timings(self, stages, keep=20):
        """Append one whole run's seconds per stage."""
        import datetime

        try:
            runs = read_json_bounded(self.timings_json, STATUS_MAX)
        except (FileNotFoundError, UntrustedInput):
            runs = None  # a damaged history is started again rather than stopping the run at its end
        runs = (runs if isinstance(runs, list) else [])[-(keep - 1):]
        runs.append({"finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                     "stages": stages, "total": round(sum(stages.values()), 1)})
        write_json(self.timings_json, runs)

    def complete_stamp(self, env_id):
        """The stamp of a consumer's results when they last held every wanted cell, or None."""
        try:
            return read_status(self.root / "stamps" / f"complete-{env_id}{self._shard_suffix}.json")
        except (FileNotFoundError, UntrustedInput):
            return None

    def mark_complete(self, env_id, stamp):
        """Record that a consumer's results hold every wanted cell (loads.complete_stamp)."""
        write_json(self.root / "stamps" / f"complete-{env_id}{self._shard_suffix}.json", stamp)

    def dump_is_current(self, env_id, stamp):
        """Whether a complete dump from exactly this stamp exists."""
        try:
            return self.manifest(env_id).exists() and read_status(self.dump_stamp(env_id)) == stamp
        except UntrustedInput:
            return False  # an unreadable stamp: dump again

    def mark_dumped(self, env_id, stamp):
        """Record the stamp of a complete dump."""
        write_json(self.dump_stamp(env_id), stamp)

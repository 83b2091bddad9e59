"""Load cells: which artifacts each consumer must load, their cache keys, and the append-only results."""

import functools
import json
import os
from dataclasses import dataclass

from .inside.schema import SCHEMA_VERSION
from .layout import read_json, sha256_text


@dataclass(frozen=True)
class Cell:
    """One artifact to load in one consumer."""

    key: str
    producer: str
    estimator: str
    format: str
    file: str
    outputs: str
    sha256: str
    cls: str
    untrusted: object
    task: str

    def to_task(self):
        """The cell as the inside loader reads it."""
        return {"key": self.key, "producer": self.producer, "estimator": self.estimator,
                "format": self.format, "file": self.file, "outputs": self.outputs,
                "sha256": self.sha256, "class": self.cls, "untrusted": self.untrusted, "task": self.task}


def read_manifest(path):
    """A producer's manifest, parsed once per version of the file (every consumer reads them all)."""
    try:
        stamp = os.stat(path).st_mtime_ns
    except FileNotFoundError:
        return None
    return _parsed(str(path), stamp)


@functools.lru_cache(maxsize=64)
def _parsed(path, stamp):
    """The JSON of a file at one modification time."""
    return read_json(path)


def consumer_identity(tag, runtime):
    """What results made in an environment depend on: its image (or venv), and its runtime variables."""
    return tag + "".join(f"+{name}={value}" for name, value in sorted(dict(runtime).items()))


def cells_for(consumer_tag, producers, tree, matrix, inside):
    """Every cell a consumer image must load: one per artifact of every dumped producer."""
    cells = []
    for producer in producers:
        manifest = read_manifest(tree.manifest(producer))
        if manifest is None:
            continue
        for est in manifest.get("estimators", []):
            for fmt, rec in est.get("formats", {}).items():
                if rec.get("status") != "ok":
                    continue
                tol = matrix.tolerance_for(fmt)
                # The artifact's place is part of the key: identical bytes can stand in several cells
                # (pickle and cloudpickle often write the same file).
                key = sha256_text(producer, est["name"], fmt, rec["sha256"], consumer_tag, inside,
                                  repr((tol.rtol, tol.atol)))[:24]
                cells.append(Cell(key, producer, est["name"], fmt, f"{producer}/{rec['file']}",
                                  f"{producer}/{est['outputs']['file']}", rec["sha256"], est.get("class", ""),
                                  rec.get("untrusted_types"), est.get("task", "")))
    return cells


def read_results(path):
    """{key: record} from a consumer's JSONL file; a partial last line (a killed run) is ignored."""
    out = {}
    try:
        with open(path, "rb") as handle:
            for raw in handle:
                if not raw.endswith(b"\n"):
                    break
                try:
                    record = json.loads(raw)
                except ValueError:
                    continue
                if record.get("schema") == SCHEMA_VERSION and "key" in record:
                    out[record["key"]] = record  # the last line for a key wins: never counted twice
    except FileNotFoundError:
        pass
    return out


def read_all(paths):
    """{key: record} over several results files (shards), later files winning."""
    out = {}
    for path in paths:
        out.update(read_results(path))
    return out


def in_shard(cell, shard):
    """Whether a cell belongs to shard (i, n): a stable split by key, the same on every machine."""
    return shard is None or int(cell.key[:8], 16) % shard[1] == shard[0] - 1


def repair_tail(path):
    """Cut a partial last line so the next append starts on a fresh line."""
    try:
        with open(path, "rb+") as handle:
            data = handle.read()
            if data and not data.endswith(b"\n"):
                handle.truncate(data.rfind(b"\n") + 1)
    except FileNotFoundError:
        pass


def count_lines(path):
    """Complete lines in a file (for progress while a consumer runs)."""
    try:
        with open(path, "rb") as handle:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    except FileNotFoundError:
        return 0


def open_for_append(path):
    """Create the results file writable by the sandbox's unprivileged user."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(exist_ok=True)
    os.chmod(path, 0o666)


# pickle.load reads all three (cloudpickle.load is pickle.load): byte-identical artifacts of these
# formats behave identically, so one load answers for all of them, across producers too (an arm64
# producer often writes the same bytes as its amd64 twin).
PICKLE_FAMILY = ("pickle", "pickle-p5", "cloudpickle")


def dedupe(cells, separate=()):
    """(cells to load, {representative key: [identical siblings]}); formats in separate stay apart."""
    groups = {}
    for cell in cells:
        family = "pickle" if cell.format in PICKLE_FAMILY and cell.format not in separate else cell.format
        groups.setdefault((cell.sha256, family), []).append(cell)
    return [g[0] for g in groups.values()], {g[0].key: g[1:] for g in groups.values() if len(g) > 1}


def copy_siblings(path, siblings):
    """Append, for each computed representative, the same outcome under its siblings' keys."""
    records = read_results(path)
    lines = []
    for key, others in siblings.items():
        record = records.get(key)
        for cell in others if record else ():
            if cell.key not in records:
                same = f"{record.get('producer')}/{record.get('estimator')}/{record.get('format')}"
                lines.append(dict(record, key=cell.key, producer=cell.producer, estimator=cell.estimator,
                                  format=cell.format, same_as=same))
    if lines:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write("".join(json.dumps(line, sort_keys=True) + "\n" for line in lines))
            handle.flush()
            os.fsync(handle.fileno())
    return len(lines)

"""Load cells: which artifacts each consumer must load, their cache keys, and the append-only results."""

import functools
import json
import os
from dataclasses import dataclass

from . import canaries
from ..inside.schema import SCHEMA_VERSION
from ..core.files import sha256_text
from ..core.untrusted import UntrustedInput, load_manifest


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
    outputs_sha256: str = ""
    canary: str = ""              # a canary's expected status ("" for a real cell)
    canary_type_change: bool = False  # whether the canary must also record a change of type
    sample: str = ""              # a checked user file's sample rows (.npy, under the artifacts)

    def to_task(self, input_sha256):
        """The cell as the inside loader reads it: what to load, never what to expect."""
        task = {"key": self.key, "format": self.format, "file": self.file, "sha256": self.sha256,
                "class": self.cls, "task": self.task, "input_sha256": input_sha256}
        if self.sample:
            task["sample"] = self.sample
        return task


def read_manifest(path):
    """A producer's manifest with only its usable estimators (paths confined to its folder, fields
    checked), parsed once per version of the file; None when absent or unusable: a producer's files
    are untrusted, and one bad producer costs only its own cells."""
    try:
        manifest, _ = load_manifest(path)
    except (FileNotFoundError, UntrustedInput, OSError):
        return None
    return manifest


def cells_for(consumer_tag, producers, tree, matrix, inside, consumer=None):
    """Every cell a consumer image must load: one per artifact of every dumped producer, and the
    canaries of its own dump when the consumer is one of the producers."""
    cells = []
    for producer in producers:
        manifest = read_manifest(tree.manifest(producer))
        if manifest is None:
            continue
        for est in manifest.get("estimators", []):
            outputs = est.get("outputs") or {}
            for fmt, rec in est.get("formats", {}).items():
                if rec.get("status") != "ok":
                    continue
                cells.append(_cell(producer, est["name"], fmt, rec["file"], outputs.get("file") or "outputs.json",
                                   rec["sha256"], outputs.get("sha256") or "", est.get("class", ""),
                                   rec.get("untrusted_types"), est.get("task", ""), consumer_tag, matrix, inside))
        if producer == consumer:
            for canary in canaries.plan(tree.artifacts(producer), manifest):
                cells.append(_cell(producer, canary.name, "pickle", canary.file, canary.outputs, canary.sha256,
                                   canary.outputs_sha256, canary.cls, None, canary.task, consumer_tag, matrix,
                                   inside, canary=canary.expected, canary_type_change=canary.type_change))
    return cells


def _cell(producer, estimator, fmt, file, outputs, sha256, outputs_sha256, cls, untrusted, task,
          consumer_tag, matrix, inside, **canary):
    tol = matrix.tolerance_for(fmt)
    # The artifact's place is part of the key: identical bytes can stand in several cells (pickle
    # and cloudpickle often write the same file); so are the producer's recorded outputs, which
    # the verdict compares with, the consumer, the judging code and the tolerances.
    key = sha256_text(producer, estimator, fmt, sha256, outputs_sha256, consumer_tag, inside,
                      _tolerance_text(tol.rtol, tol.atol))[:24]
    return Cell(key, producer, estimator, fmt, f"{producer}/{file}", f"{producer}/{outputs}", sha256, cls,
                untrusted, task, outputs_sha256, **canary)


@functools.lru_cache(maxsize=64)
def _tolerance_text(rtol, atol):
    return repr((rtol, atol))


MAX_LINE = 48 << 20  # bytes of one results line: a cell's record is bounded well below this


_BATCH = 1000  # complete lines parsed as one JSON array (a line that spoils it is parsed alone)


def read_results(path):
    """{key: record} from a consumer's JSONL file; a partial last line (a killed run), an oversized
    one or one that is no JSON record is ignored."""
    return read_results_from(path)[0]


def read_results_from(path, start=0):
    """({key: record}, end) of the lines of a consumer's JSONL file from byte start on, as
    read_results reads them; end is where its complete lines end (what a later read starts from)."""
    out, batch, end = {}, [], start
    try:
        with open(path, "rb") as handle:
            handle.seek(start)
            while True:
                raw = handle.readline(MAX_LINE + 1)
                if not raw:
                    break
                if not raw.endswith(b"\n"):
                    if len(raw) <= MAX_LINE:
                        break  # the partial tail of a killed run
                    while raw and not raw.endswith(b"\n"):  # skip the rest of an oversized line
                        raw = handle.readline(MAX_LINE + 1)
                    end = handle.tell()
                    continue
                end += len(raw)
                batch.append(raw)
                if len(batch) >= _BATCH:
                    _keep(out, _parsed(batch))
                    batch = []
    except FileNotFoundError:
        pass
    _keep(out, _parsed(batch))
    return out, end


def _parsed(lines):
    """The JSON value of each line (None for a line that is none), parsed in one go when they all are."""
    try:
        values = json.loads(b"[" + b",".join(lines) + b"]") if lines else []
        if len(values) == len(lines):
            return values
    except (ValueError, RecursionError):  # a line another machine wrote may nest without end
        pass
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except (ValueError, RecursionError):
            out.append(None)
    return out


def _keep(out, records):
    for record in records:
        if isinstance(record, dict) and record.get("schema") == SCHEMA_VERSION and "key" in record:
            out[record["key"]] = record  # the last line for a key wins: never counted twice


def read_all(paths):
    """{key: record} over several results files (shards), later files winning."""
    out = {}
    for path in paths:
        out.update(read_results(path))
    return out


def in_shard(cell, shard):
    """Whether a cell belongs to shard (i, n): a stable split by key, the same on every machine."""
    return shard is None or int(cell.key[:8], 16) % shard[1] == shard[0] - 1


def repair_tail(path, block=1 << 16):
    """Cut a partial last line so the next append starts on a fresh line, reading only the tail."""
    try:
        with open(path, "rb+") as handle:
            end = handle.seek(0, os.SEEK_END)
            pos = end
            while pos > 0:
                start = max(0, pos - block)
                handle.seek(start)
                chunk = handle.read(pos - start)
                cut = chunk.rfind(b"\n")
                if cut >= 0:
                    if start + cut + 1 != end:
                        handle.truncate(start + cut + 1)
                    return
                pos = start
            if end:
                handle.truncate(0)
    except FileNotFoundError:
        pass


def count_lines(path, start=0):
    """Complete lines in a file from byte start on (for progress while a consumer runs)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(start)
            return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    except FileNotFoundError:
        return 0


def open_for_append(path):
    """Create the results file; only the host writes it (the sandbox never sees it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(exist_ok=True)
    os.chmod(path, 0o644)


# pickle.load reads all three (cloudpickle.load is pickle.load): byte-identical artifacts of these
# formats load identically in one consumer, so one load's raw outputs serve all of them, across
# producers too; each is still judged against its own producer's recorded outputs.
PICKLE_FAMILY = ("pickle", "pickle-p5", "cloudpickle")


def dedupe(cells, separate=(), inputs=None):
    """[[cells loaded once]]: byte-identical artifacts of one family on the same input; formats in
    separate stay apart. inputs maps a cell's key to its input hash."""
    groups = {}
    for cell in cells:
        family = "pickle" if cell.format in PICKLE_FAMILY and cell.format not in separate else cell.format
        groups.setdefault((cell.sha256, family, cell.task, (inputs or {}).get(cell.key)), []).append(cell)
    return list(groups.values())

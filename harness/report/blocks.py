"""The merge's blocks: the cells of one consumer from one producer as the last merge wrote them
(their results text, their Parquet rows, their page rows and their tallies), so that a merge
takes an unchanged block whole and reads and judges only the cells of the others.

A block is kept when its fingerprint (what its records are made of: both manifests, the
consumer's image and runtime, the judging and merging code, tolerances and [[known]] entries) is
the one recorded, the last merge is the run's baseline, and nothing appended to the consumer's
results since then names one of its cells. The results files are append-only: the lines after
the point the last merge read up to are all that is parsed of a consumer whose blocks are kept.
"""

import hashlib
import json
import os
import uuid
from pathlib import Path

from ..core.files import sha256_file, sha256_text
from ..results import cells as cells_mod, file as results_file
from .texts import BAD

FOLDER = "merge-blocks"
INDEX = "index.json"
VERSION = 2  # 2: each block's segment has its sha256
_MARK = 4096  # bytes before a read's end whose hash tells that a file is the one read then
ROW_COLUMNS = ("r_row", "r_status", "r_max_abs", "r_max_rel", "r_warns", "r_error", "r_calls", "r_known",
               "r_since", "r_was")
_HARNESS = Path(__file__).resolve().parent.parent


def code_hash():
    """A hash of the code that makes a block's records, rows and tallies from the load stage's lines."""
    digest = hashlib.sha256()
    code = [*(_HARNESS / "report").glob("*.py"), *(_HARNESS / "results").glob("*.py"),
            _HARNESS / "config" / "checks.py", _HARNESS / "config" / "matrix.py"]
    for path in sorted(code):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def file_sha(path):
    """The sha256 of a file's bytes, or "" when it is absent."""
    try:
        return sha256_file(path)
    except FileNotFoundError:
        return ""


def fingerprint(*parts):
    """What a block's records are made of, as one hash (parts: JSON values)."""
    return sha256_text(*(json.dumps(p, sort_keys=True, default=str) for p in parts))[:32]


def _mark(path, end):
    """What identifies the first end bytes of a results file: its inode and the hash of their last bytes."""
    with open(path, "rb") as handle:
        handle.seek(max(0, end - _MARK))
        tail = handle.read(min(end, _MARK))
    return {"name": Path(path).name, "ino": os.stat(path).st_ino, "end": end,
            "tail": hashlib.sha256(tail).hexdigest()}


def _unchanged_before(path, mark):
    """Whether the file at path starts with the bytes a mark was taken of (it only grew since)."""
    try:
        info = os.stat(path)
        if info.st_ino != mark["ino"] or info.st_size < mark["end"]:
            return False
        return _mark(path, mark["end"])["tail"] == mark["tail"]
    except (OSError, KeyError, TypeError):
        return False


class Source:
    """One consumer's results files: the lines appended since the last merge read them (all of
    them when that merge did not), and the whole files when a block needs them."""

    def __init__(self, paths, marks):
        self.paths = list(paths)
        self.clean = bool(marks) and [m.get("name") for m in marks] == [p.name for p in self.paths] \
            and all(_unchanged_before(p, m) for p, m in zip(self.paths, marks))
        self.tails, self.marks, self._full = {}, [], None
        if self.clean:
            for path, mark in zip(self.paths, marks):
                records, end = cells_mod.read_results_from(path, mark["end"])
                self.tails.update(records)
                self.marks.append(_mark(path, end))
        else:
            self._read_whole()

    def _read_whole(self):
        self._full, self.marks = {}, []
        for path in self.paths:
            records, end = cells_mod.read_results_from(path)
            self._full.update(records)  # later files win, as in cells.read_all
            self.marks.append(_mark(path, end))

    def records(self, keys):
        """{key: record} for every key the files answer: the appended lines alone when they answer
        them all (one file: a later file could hold an older line for the same key)."""
        if self._full is None and len(self.paths) == 1 and all(key in self.tails for key in keys):
            return self.tails
        if self._full is None:
            self._read_whole()
        return self._full


class Store:
    """The blocks the last merge left (under the run's folder) and those this merge writes."""

    def __init__(self, root, baseline_merge):
        self.folder = Path(root) / FOLDER
        self.code = code_hash()
        self.id = uuid.uuid4().hex  # this merge's, written into its results' header
        index = self._read_index()
        usable = index.get("merge") == baseline_merge and bool(baseline_merge) and index.get("code") == self.code
        self._old = index if usable else {}
        self._consumers, self._blocks, self._new_files = {}, {}, []
        self._loaded = {}  # a kept block's files, read and checked by kept(), taken by load()
        self.counts = {"kept": 0, "made": 0}  # blocks, for the merge's log line

    def _read_index(self):
        try:
            index = json.loads((self.folder / INDEX).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return index if isinstance(index, dict) and index.get("version") == VERSION else {}

    def source(self, consumer, paths):
        """The Source of a consumer's results files, from where the last merge read them."""
        source = Source(paths, (self._old.get("consumers") or {}).get(consumer))
        self._consumers[consumer] = source.marks
        return source

    def kept(self, consumer, producer, print_, source):
        """The block the last merge wrote for these cells, when it still holds, else None."""
        entry = (self._old.get("blocks") or {}).get(f"{consumer}\t{producer}")
        if not entry or entry.get("fp") != print_ or not source.clean:
            return None
        files = self._files(entry)
        if files is None:
            return None  # gone or damaged: made again
        if source.tails and any(key in source.tails for key in files[1].column("key").to_pylist()):
            return None  # a cell of it was loaded again since
        self._loaded[entry["key"]] = files
        return entry

    def _files(self, entry):
        """(segment bytes, Arrow table, tallies' state) of a block, or None when they are not the
        ones it wrote: a damaged segment copied into results.json.gz would spoil the whole file."""
        import pyarrow as pa

        try:
            data = (self.folder / f"{entry['file']}.deflate").read_bytes()
            if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
                return None
            table = _read(self.folder / f"{entry['file']}.arrow")
            state = json.loads(table.schema.metadata[b"state"])
        except (OSError, pa.ArrowException, KeyError, TypeError, ValueError):
            return None
        return (data, table, state) if table.num_rows == entry.get("cells") else None

    def load(self, entry):
        """(Segment, Arrow table, rows, state) of a block kept() returned; it stays for the next merge."""
        data, table, state = self._loaded.pop(entry["key"])
        self._blocks[entry["key"]] = entry
        self.counts["kept"] += 1
        return results_file.Segment(data, entry["crc"], entry["size"], entry["cells"]), table, _rows(table), state

    def fresh(self, consumer, producer, print_, generated):
        """A Block to fill with the cells of (consumer, producer), made again."""
        return Block(self, f"{consumer}\t{producer}", print_, generated)

    def _written(self, key, entry, paths):
        self._blocks[key] = entry
        self.counts["made"] += 1
        self._new_files += paths

    def commit(self):
        """Record this merge's blocks (after its results are in place) and drop the others' files."""
        index = {"version": VERSION, "merge": self.id, "code": self.code, "consumers": self._consumers,
                 "blocks": self._blocks}
        tmp = self.folder / f".{INDEX}.tmp"
        tmp.write_text(json.dumps(index), encoding="utf-8")
        os.replace(tmp, self.folder / INDEX)
        keep = {f"{e['file']}{suffix}" for e in self._blocks.values() for suffix in (".arrow", ".deflate")}
        for path in self.folder.iterdir():
            if path.name != INDEX and path.name not in keep:
                path.unlink(missing_ok=True)

    def abort(self):
        """Drop the files this merge wrote: the last merge's index stays as it was."""
        for path in self._new_files:
            Path(path).unlink(missing_ok=True)


def _read(path):
    import pyarrow as pa

    with pa.memory_map(str(path)) as source:
        return pa.ipc.open_file(source).read_all()


class Block:
    """The cells of one block, for this merge's results and as the next merge will take them,
    whose baseline this merge is: there a failing cell with no "since" has this run's time
    (since_of says so of a cell that failed in the previous run), and each row's was is the
    cell's status now."""

    def __init__(self, store, key, print_, generated):
        self.store, self.key, self.print, self.generated = store, key, print_, generated
        self.texts, self.prows, self.rows, self.was = [], [], [], []
        self.next_texts, self.next_prows = self.texts, self.prows  # the same lists until a cell differs

    def add(self, record, text, prow, row):
        """Take one cell: its record, text, Parquet row and page row (None for a canary)."""
        self.texts.append(text)
        self.prows.append(prow)
        if record.get("status") in BAD and not record.get("since"):
            if self.next_texts is self.texts:
                self.next_texts, self.next_prows = self.texts[:-1], self.prows[:-1]
            record = dict(record, since=self.generated)
            text = results_file.dumps(record)
            prow = results_file.parquet_row(record, text)
            row = row._replace(since=self.generated) if row is not None else None
        if self.next_texts is not self.texts:
            self.next_texts.append(text)
            self.next_prows.append(prow)
        self.rows.append(row)
        self.was.append(record.get("status"))

    def finish(self, state):
        """Write the block's files (state: its tallies, JSON values); (Segment, Arrow table) of its
        cells for this merge's results."""
        import pyarrow as pa

        self.store.folder.mkdir(parents=True, exist_ok=True)
        name = sha256_text(self.key, self.print, self.store.id)[:24]
        table = _table(pa, self.next_prows, _row_arrays(pa, self.rows, self.was), {"state": json.dumps(state)})
        part = results_file.segment(self.next_texts)
        arrow, data = self.store.folder / f"{name}.arrow", self.store.folder / f"{name}.deflate"
        self.store._written(self.key, {"key": self.key, "fp": self.print, "file": name, "crc": part.crc,
                                       "size": part.size, "cells": part.cells,
                                       "sha256": hashlib.sha256(part.data).hexdigest()}, [arrow, data])
        with pa.OSFile(str(arrow), "wb") as sink, \
                pa.ipc.new_file(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression="zstd")) as out:
            out.write_table(table)
        data.write_bytes(part.data)
        if self.next_texts is self.texts:
            return part, table
        return results_file.segment(self.texts), _table(pa, self.prows)


def _table(pa, prows, more=None, metadata=None):
    """An Arrow table of Parquet rows (and more columns)."""
    fields = results_file.parquet_fields(pa)
    columns = list(zip(*prows)) if prows else [()] * len(fields)
    arrays = {name: pa.array(list(values), type=kind) for (name, kind), values in zip(fields, columns)}
    table = pa.table(dict(arrays, **(more or {})))
    return table.replace_schema_metadata(metadata) if metadata else table


def _text(value):
    return None if value is None else str(value)


def _row_arrays(pa, rows, was):
    """The page rows as ROW_COLUMNS (r_row false for a canary's place); was: each cell's status."""
    blank = (None,) * 13
    columns = list(zip(*(row or blank for row in rows))) if rows else [()] * 13
    encoded = {None: None}

    def as_json(values):  # a few thousand distinct warning lists and known entries among the rows
        return [encoded[v] if v in encoded else encoded.setdefault(v, json.dumps(v)) for v in values]

    string, number = pa.string(), pa.float64()
    return {"r_row": pa.array([row is not None for row in rows], type=pa.bool_()),
            "r_status": pa.array(columns[4], type=string),
            "r_max_abs": pa.array(columns[5], type=number), "r_max_rel": pa.array(columns[6], type=number),
            "r_warns": pa.array(as_json(columns[7]), type=string),
            "r_error": pa.array(columns[8], type=string), "r_calls": pa.array(columns[9], type=string),
            "r_known": pa.array(as_json(columns[10]), type=string),
            "r_since": pa.array(columns[11], type=string),
            "r_was": pa.array([_text(w) if row is not None else None for row, w in zip(rows, was)], type=string)}


def _rows(table):
    """The page rows of a block's table, as tuples of rows.Row's fields."""
    names = ("producer", "consumer", "format", "estimator") + ROW_COLUMNS
    c = {name: table.column(name).to_pylist() for name in names}
    warns, known = {}, {}

    def warns_of(text):
        if text not in warns:
            warns[text] = tuple(tuple(w) for w in json.loads(text))
        return warns[text]

    def known_of(text):
        if text not in known:
            value = json.loads(text) if text is not None else None
            known[text] = tuple(value) if value is not None else None
        return known[text]

    return [(p, co, f, e, s, a, r, warns_of(w), err, calls, known_of(k), since, was)
            for p, co, f, e, flag, s, a, r, w, err, calls, k, since, was in zip(*(c[n] for n in names)) if flag]

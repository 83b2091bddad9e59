"""The published results, the one module that writes and reads them: results.json.gz (compact
JSON, gzip) for programs, results.parquet (a row per cell) for analysis.

Schema 3 of the results file is schema 2's content, compact and gzipped (23x smaller for the
default matrix); its cells are the records of the shared schema (inside/schema.py). It is one
JSON document laid out in lines: the header (every field but the cells), then one cell a line,
so that the merge writes and the report reads a million cells one at a time.
"""

import io
import json
import os
import shutil
import struct
import tempfile
import zlib
from pathlib import Path
from typing import NamedTuple

from ..core.untrusted import MAX_DEPTH, RESULTS_MAX, UntrustedInput, loads_bounded, read_bytes_bounded

RESULTS_SCHEMA = 3
NAME, PREVIOUS, PARQUET = "results.json.gz", "previous-results.json.gz", "results.parquet"
LEGACY = ("results.json", "previous-results.json")  # schema 2 names: refused, with what to do
_CELLS = '"cells":['
_CHUNK = 1 << 20


def other_schema(data):
    """None when parsed results state RESULTS_SCHEMA, else what they state ("schema 2"), for the
    message of whoever refuses them: every reader and writer of results files asks here."""
    found = data.get("schema") if isinstance(data, dict) else None
    return None if found == RESULTS_SCHEMA else f"schema {found!r:.40}"


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=True)


def dumps(value):
    """A cell's text in the results file: compact JSON, sorted keys."""
    return _ENCODER.encode(value)


def _head(header):
    """The first line: the header's fields, then the opening of the cells."""
    text = dumps({k: v for k, v in header.items() if k != "cells"})
    return text[:-1] + ("," if len(text) > 2 else "") + _CELLS + "\n"


class _Atomic:
    """A temporary file beside path that replaces it on commit, or disappears."""

    def __init__(self, path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        os.close(fd)

    def commit(self):
        os.chmod(self.tmp, 0o644)  # mkstemp makes 0600; results are published and read by containers
        os.replace(self.tmp, self.path)

    def discard(self):
        Path(self.tmp).unlink(missing_ok=True)


class Segment(NamedTuple):
    """Cells' text as raw deflate ending on a byte boundary (a sync flush): segments compressed
    apart follow each other in one gzip member, as pigz writes them."""

    data: bytes
    crc: int      # CRC-32 of the text
    size: int     # bytes of the text
    cells: int


def _deflater():
    """Raw deflate at gzip's level 6: the body of a gzip member, without its header and trailer."""
    return zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)


def segment(texts):
    """The Segment of cell texts joined by ",\n"."""
    text = ",\n".join(texts).encode("utf-8")
    deflate = _deflater()
    return Segment(deflate.compress(text) + deflate.flush(zlib.Z_SYNC_FLUSH), zlib.crc32(text), len(text), len(texts))


def _gf2_times(matrix, vector):
    total, index = 0, 0
    while vector:
        if vector & 1:
            total ^= matrix[index]
        vector >>= 1
        index += 1
    return total


def _gf2_square(matrix):
    return [_gf2_times(matrix, row) for row in matrix]


def _zero_operators():
    """The operators that advance a CRC-32 over 2**k zero bytes, k = 0..63."""
    bit = [0xEDB88320] + [1 << n for n in range(31)]  # over one zero bit
    ops = [_gf2_square(_gf2_square(_gf2_square(bit)))]
    while len(ops) < 64:
        ops.append(_gf2_square(ops[-1]))
    return ops


_ZERO_OPS: list = []  # made on first use


def crc32_combine(crc1, crc2, len2):
    """The CRC-32 of a text made of one with crc1 and one of len2 bytes with crc2 (zlib's
    crc32_combine, which Python's zlib does not offer)."""
    if not _ZERO_OPS:
        _ZERO_OPS.extend(_zero_operators())
    k = 0
    while len2 > 0:
        if len2 & 1:
            crc1 = _gf2_times(_ZERO_OPS[k], crc1)
        len2 >>= 1
        k += 1
    return crc1 ^ crc2


_GZIP_HEAD = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name, mtime 0, unknown OS


class Writer:
    """results.json.gz written as the cells come. The header goes first in the file but is written
    at close(), so fields computed from the cells may join the header dict until then: the cells
    wait in a temporary file as deflate segments (a block kept from the last merge is its segment,
    copied), and at close the header's segment, then theirs, go into one gzip member. A reader sees
    the old file until close(), never half of the new one."""

    def __init__(self, path, header, raw=None):
        self.header, self.cells = header, 0
        self._path, self._raw = path, raw
        if raw is None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._part = io.BytesIO() if raw is not None else tempfile.TemporaryFile(dir=Path(path).parent)
        self._deflate = None  # the open stream of text added a cell at a time
        self._crc, self._size = 0, 0

    def _text(self, data):
        if self._deflate is None:
            self._deflate = _deflater()
        self._part.write(self._deflate.compress(data))
        self._crc, self._size = zlib.crc32(data, self._crc), self._size + len(data)

    def _end_text(self):
        if self._deflate is not None:
            self._part.write(self._deflate.flush(zlib.Z_SYNC_FLUSH))
            self._deflate = None  # what follows must not refer back into this text

    def add(self, cell, text=None):
        """Append one cell (text: its dumps(), when the caller has it already)."""
        self._text((("" if not self.cells else ",\n") + (text or dumps(cell))).encode("utf-8"))
        self.cells += 1

    def add_segment(self, part):
        """Append the cells of a Segment."""
        if not part.cells:
            return
        if self.cells:
            self._text(b",\n")
        self._end_text()
        self._part.write(part.data)
        self._crc, self._size = crc32_combine(self._crc, part.crc, part.size), self._size + part.size
        self.cells += part.cells

    def close(self):
        """Write the header, then the cells, and put the file in place."""
        self._text(b"\n]}" if self.cells else b"]}")
        self._end_text()
        head = segment([_head(self.header)])
        target = _Atomic(self._path) if self._raw is None else None
        try:
            raw = open(target.tmp, "wb") if target else self._raw
            raw.write(_GZIP_HEAD + head.data)
            self._part.seek(0)
            shutil.copyfileobj(self._part, raw, 1 << 20)
            crc = crc32_combine(head.crc, self._crc, self._size)
            raw.write(_deflater().flush()  # the last, empty block
                      + struct.pack("<II", crc, (head.size + self._size) & 0xFFFFFFFF))
            if target:
                raw.close()
                target.commit()
        except BaseException:
            if target:
                target.discard()
            raise
        finally:
            self._part.close()

    def abort(self):
        """Leave the old file as it was."""
        self._part.close()


def encode(results):
    """The bytes of results.json.gz for a results dict (header and cells)."""
    raw = io.BytesIO()
    _write_all(Writer(None, results, raw=raw), results)
    return raw.getvalue()


def _write_all(writer, results):
    try:
        for cell in results.get("cells") or ():
            writer.add(cell)
    except BaseException:
        writer.abort()
        raise
    writer.close()


def write(path, results):
    """Write results.json.gz atomically."""
    _write_all(Writer(path, results), results)


def _inflated_lines(data, what, max_bytes):
    """The lines of gzip bytes (one member or several), inflated a chunk at a time within
    max_bytes in all."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip header and trailer
    total, rest, pos = 0, b"", 0
    while True:
        if inflater.eof:
            data, pos = inflater.unused_data + data[pos:], 0
            if not data:
                break
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)  # the next member
        if inflater.unconsumed_tail:
            source = inflater.unconsumed_tail
        elif pos < len(data):
            source, pos = data[pos:pos + _CHUNK], pos + _CHUNK
        else:
            raise UntrustedInput(f"{what} is not gzip: the stream ends early")
        try:
            chunk = inflater.decompress(source, _CHUNK)
        except zlib.error as exc:
            raise UntrustedInput(f"{what} is not gzip: {exc}") from None
        total += len(chunk)
        if total > max_bytes:
            raise UntrustedInput(f"{what} inflates to more than the {max_bytes:,} bytes allowed")
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        yield from lines
    if rest:
        yield rest


def stream(data, what="results", max_bytes=RESULTS_MAX):
    """(header, cells) of results.json.gz bytes: the header parsed, the cells an iterator that
    parses one line at a time. A file of one line (written whole by an older harness) is parsed
    whole. UntrustedInput for anything unusable, from either."""
    lines = _inflated_lines(data, what, max_bytes)
    first = next(lines, b"")
    if not first.endswith(_CELLS.encode()):
        document = loads_bounded(first + b"\n".join(lines), what=what)
        if not isinstance(document, dict):
            raise UntrustedInput(f"{what} is not a JSON object")
        cells = document.pop("cells", None)
        return document, iter(cells if isinstance(cells, list) else ())
    head = first[:-len(_CELLS)].rstrip(b",")
    header = loads_bounded(head + b"}", what=what)
    return header, _cells(lines, what)


_BATCH = 2000  # cell lines parsed at once, as one JSON array: one depth scan and one parse for all


def _cells(lines, what):
    batch, ended = [], False
    for line in lines:
        if not line:
            continue
        if ended:
            raise UntrustedInput(f"{what} goes on after its cells")
        if line == b"]}":
            ended = True
            continue
        batch.append(line[:-1] if line.endswith(b",") else line)
        if len(batch) >= _BATCH:
            yield from _parsed(batch, what)
            batch = []
    if not ended:
        raise UntrustedInput(f"{what} ends before its cells do")
    yield from _parsed(batch, what)


def _parsed(batch, what):
    """The cells of a batch of lines, parsed within the nesting bound (one level more: the array)."""
    return loads_bounded(b"[" + b",".join(batch) + b"]", max_depth=MAX_DEPTH + 1, what=what) if batch else []


def decode(data, what="results", max_bytes=RESULTS_MAX):
    """The results in gzip bytes, decompressed within max_bytes (a gzip bomb from another machine
    stops there), parsed within the nesting bound; UntrustedInput otherwise."""
    header, cells = stream(data, what, max_bytes)
    header["cells"] = list(cells)
    return header


def open_results(path, nofollow=False):
    """(header, cells iterator) of the results at path; FileNotFoundError passes, anything
    unusable is UntrustedInput (from the iterator too)."""
    return stream(read_bytes_bounded(path, RESULTS_MAX, nofollow=nofollow), what=str(path))


def read(path, nofollow=False):
    """The parsed results at path; FileNotFoundError passes, anything unusable is UntrustedInput."""
    return decode(read_bytes_bounded(path, RESULTS_MAX, nofollow=nofollow), what=str(path))


PARQUET_COLUMNS = ("key", "producer", "consumer", "estimator", "family", "format", "status", "max_abs",
                   "max_rel", "error_type", "error_message", "warnings", "known", "since", "canary", "record")
PARQUET_BATCH = 10_000  # rows a row group: a batch is held in memory, never the whole table


def parquet_row(cell, text):
    """A cell's row of results.parquet (text: its dumps())."""
    err = cell.get("error") if isinstance(cell.get("error"), dict) else {}
    warnings = [f"{w.get('category')}: {w.get('message')}" for w in cell.get("warnings") or () if isinstance(w, dict)]
    number = [cell.get(k) if isinstance(cell.get(k), (int, float)) and not isinstance(cell.get(k), bool) else None
              for k in ("max_abs", "max_rel")]
    known = cell.get("known") if isinstance(cell.get("known"), dict) else {}
    canary = cell.get("canary") if isinstance(cell.get("canary"), dict) else {}
    return [str(cell.get("key", "")), str(cell.get("producer", "")), str(cell.get("consumer", "")),
            str(cell.get("estimator", "")), str(cell.get("family", "")), str(cell.get("format", "")),
            str(cell.get("status", "")), *number, err.get("type"), err.get("message"), warnings,
            known.get("reason"), cell.get("since") if isinstance(cell.get("since"), str) else None,
            canary.get("status"), text]


def parquet_fields(pa):
    """The (name, type) of each column of results.parquet."""
    types = {"max_abs": pa.float64(), "max_rel": pa.float64(), "warnings": pa.list_(pa.string())}
    return [(name, types.get(name, pa.string())) for name in PARQUET_COLUMNS]


class ParquetWriter:
    """results.parquet written a row group at a time: one row per cell, the columns an analysis
    filters on, and the whole record as JSON text (zstd-compressed, strings dictionary-encoded)."""

    def __init__(self, path, header):
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._pa = pa
        meta = {"schema": str(RESULTS_SCHEMA), "matrix": str(header.get("matrix", "")),
                "generated": str(header.get("generated", ""))}
        self._schema = pa.schema(parquet_fields(pa), metadata=meta)
        self._file = _Atomic(path)
        self._out = pq.ParquetWriter(self._file.tmp, self._schema, compression="zstd")
        self._rows, self._tables, self._table_rows = [], [], 0

    def add(self, cell, text=None):
        """Append one cell (text: its dumps(), when the caller has it already)."""
        self._flush_tables()
        self._rows.append(parquet_row(cell, text or dumps(cell)))
        if len(self._rows) >= PARQUET_BATCH:
            self._flush()

    def add_table(self, table):
        """Append the rows of an Arrow table with these columns and more (a block's)."""
        if self._rows:
            self._flush()
        if table.num_rows:
            self._tables.append(table.select(list(PARQUET_COLUMNS)).replace_schema_metadata(self._schema.metadata))
            self._table_rows += table.num_rows
            if self._table_rows >= PARQUET_BATCH:
                self._flush_tables()

    def _flush_tables(self):
        if self._tables:
            self._out.write_table(self._pa.concat_tables(self._tables))
        self._tables, self._table_rows = [], 0

    def _flush(self):
        self._flush_tables()
        columns = list(zip(*self._rows)) if self._rows else [()] * len(PARQUET_COLUMNS)
        self._out.write_table(self._pa.table({f.name: self._pa.array(list(values), type=f.type)
                                              for f, values in zip(self._schema, columns)}, schema=self._schema))
        self._rows = []

    def close(self):
        """Write the last row group and put the file in place."""
        if self._rows:
            self._flush()
        self._flush_tables()
        self._out.close()
        self._file.commit()

    def abort(self):
        """Leave the old file as it was."""
        self._out.close()
        self._file.discard()


def write_parquet(path, results):
    """results.parquet of a results dict."""
    _write_all(ParquetWriter(path, results), results)


OUTCOME_COLUMNS = ("key", "producer", "consumer", "estimator", "format", "status", "since")


def parquet_outcomes(path, generated):
    """Batches of {column: values} of OUTCOME_COLUMNS from the results.parquet at path when it was
    written with the results generated then (its metadata says so), else None: what a merge needs
    of the last results, read in a fraction of the time their JSON takes."""
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (OSError, ValueError):
        return None
    meta = parquet.schema_arrow.metadata or {}
    if meta.get(b"schema") != str(RESULTS_SCHEMA).encode() or meta.get(b"generated") != str(generated).encode() \
            or not set(OUTCOME_COLUMNS) <= set(parquet.schema_arrow.names):
        return None
    return (batch.to_pydict() for batch in parquet.iter_batches(batch_size=PARQUET_BATCH, columns=list(OUTCOME_COLUMNS)))

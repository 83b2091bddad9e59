"""Refuse an untrusted ONNX model before onnxruntime sees it: standard library only.

Older onnxruntime releases read a tensor's "external data" from whatever file the model
names (``../../etc/passwd``, an absolute path, an in-memory address), and an operator domain
outside the standard ones asks for a custom-op library. So, before any InferenceSession is
created, a model is refused when

* any tensor anywhere stores its data outside the model: ``data_location`` is not DEFAULT,
  or it has ``external_data`` entries. "Anywhere" is graph initializers, sparse
  initializers, node attributes (``t``, ``tensors``, ``sparse_tensor``,
  ``sparse_tensors``), subgraphs (``g``, ``graphs`` of If/Loop/Scan), recursively, model
  functions (their nodes and default attributes), and training-info graphs;
* it imports an opset domain, or a node uses a domain, outside ``ALLOWED_DOMAINS``.

The model is read with a minimal protobuf wire-format reader, not the ``onnx`` package
(missing or old in many environments). Field numbers are onnx/onnx.proto's, which never
change (proto2 compatibility):

    ModelProto         graph 7, opset_import 8, training_info 20, functions 25
    OperatorSetIdProto domain 1
    TrainingInfoProto  initialization 1, algorithm 2
    FunctionProto      name 1, node 7, opset_import 9, attribute_proto 11
    GraphProto         node 1, name 2, initializer 5, sparse_initializer 15
    NodeProto          name 3, op_type 4, attribute 5, domain 7
    AttributeProto     name 1, t 5, g 6, tensors 10, graphs 11, sparse_tensor 22,
                       sparse_tensors 23
    TensorProto        name 8, external_data 13, data_location 14 (EXTERNAL = 1)
    SparseTensorProto  values 1, indices 2
    StringStringEntryProto key 1, value 2

The reader is conservative wherever protobuf's own parser could see something it does not:
every occurrence of a field is checked (protobuf merges repeated occurrences of a message
and keeps the last of a scalar, so the union is a superset), a field of interest with an
unexpected wire type, a group, a tag beyond 32 bits or a truncated field is "not a readable
ONNX model". It is bounded: file size, subgraph nesting depth and the total count of
protobuf fields visited are capped, and exceeding a cap is a problem too.

Callers should hand onnxruntime the very bytes that were checked (``read_model``), not the
path again, so that the file cannot change in between.

Python 3.6 syntax: this runs inside every environment of the matrix.
"""

import os
import re
import stat

__all__ = ["ALLOWED_DOMAINS", "MAX_BYTES", "MAX_DEPTH", "MAX_FIELDS", "MAX_PROBLEMS",
           "problems", "problems_in_bytes", "read_model"]

ALLOWED_DOMAINS = ("", "ai.onnx", "ai.onnx.ml")
MAX_BYTES = 256 * 1024 * 1024      # a bigger file is refused unread
MAX_DEPTH = 32                     # nesting of subgraphs (the main graph is depth 0)
MAX_FIELDS = 50 * 1000 * 1000      # protobuf fields visited, in all
MAX_PROBLEMS = 20                  # listed; the rest are counted on one last line

_ALLOWED = frozenset(d.encode("ascii") for d in ALLOWED_DOMAINS)
_DOMAINS_TEXT = ", ".join("'%s'" % d for d in ALLOWED_DOMAINS)

# Wire types.
_VARINT, _I64, _LEN, _SGROUP, _EGROUP, _I32 = 0, 1, 2, 3, 4, 5
_MASK64 = (1 << 64) - 1
_NAME_CHARS = 60


class _Stop(Exception):
    """Checking cannot go on: the message is the whole problem."""


# Runs of one repeated scalar field (e.g. the non-packed ``ints`` of a tree ensemble's
# attributes) are skipped by a regular expression, in C, rather than field by field; a run
# counts as one field against the budget (its time is bounded by the file size).
_RUN_CACHE = {}


def _run_pattern(tag_byte, wire):
    key = (tag_byte, wire)
    pat = _RUN_CACHE.get(key)
    if pat is None:
        t = re.escape(bytes([tag_byte]))
        if wire == _VARINT:
            body = b"[\x80-\xff]{0,9}[\x00-\x7f]"
        elif wire == _I32:
            body = b".{4}"
        else:
            body = b".{8}"
        pat = re.compile(b"(?:" + t + body + b")*", re.DOTALL)
        _RUN_CACHE[key] = pat
    return pat


def _varint(buf, pos, end):
    """(value, next position) of the varint at pos; at most 10 bytes, masked to 64 bits."""
    result = 0
    shift = 0
    while True:
        if pos >= end:
            raise _Stop("not a readable ONNX model: truncated varint at byte %d" % pos)
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result & _MASK64, pos
        shift += 7
        if shift >= 70:
            raise _Stop("not a readable ONNX model: varint longer than 10 bytes at byte %d"
                        % pos)


def _text(raw, limit=_NAME_CHARS):
    """Bytes from the model as one short printable line."""
    s = raw.decode("utf-8", "replace")
    s = "".join(c if c.isprintable() else "?" for c in s[:limit + 1])
    if len(s) > limit:
        s = s[:limit] + "..."
    return s


class _Walker(object):

    def __init__(self, buf, max_depth, max_fields):
        self.buf = buf
        self.max_depth = max_depth
        self.left = max_fields
        self.max_fields = max_fields
        self.found = []
        self.seen = set()

    # -- the wire format -------------------------------------------------------------------

    def scan(self, start, end, wanted, what):
        """[(field, value)] for the fields of one message named in wanted (field -> wire type);
        value is an int for varints, (start, end) for length-delimited fields.
        Every other field is skipped; every field counts against the budget."""
        buf = self.buf
        pos = start
        out = []
        n = 0
        left = self.left
        while pos < end:
            tag_pos = pos
            b = buf[pos]
            if b < 0x80:
                tag = b
                pos += 1
            else:
                tag, pos = _varint(buf, pos, end)
                if tag >> 32:
                    raise _Stop("not a readable ONNX model: field tag beyond 32 bits at byte %d"
                                % tag_pos)
            field = tag >> 3
            wire = tag & 7
            if field == 0:
                raise _Stop("not a readable ONNX model: field number 0 at byte %d" % tag_pos)
            n += 1
            if n > left:
                raise _Stop("model too large to check: more than %d protobuf fields"
                            % self.max_fields)
            expect = wanted.get(field)
            if expect is not None and expect != wire:
                raise _Stop("not a readable ONNX model: field %d of %s has wire type %d, not %d "
                            "(byte %d)" % (field, what, wire, expect, tag_pos))
            if wire == _VARINT:
                if expect is None and b < 0x80:
                    m = _run_pattern(b, wire).match(buf, pos - 1, end)
                    if m.end() > pos - 1:  # this field and its repeats, skipped at once
                        pos = m.end()
                        continue
                value, pos = _varint(buf, pos, end)
                if expect is not None:
                    out.append((field, value))
            elif wire == _LEN:
                length, pos = _varint(buf, pos, end)
                if length > end - pos:
                    raise _Stop("not a readable ONNX model: field %d of %s runs past its end "
                                "(byte %d)" % (field, what, tag_pos))
                if expect is not None:
                    out.append((field, (pos, pos + length)))
                pos += length
            elif wire == _I32 or wire == _I64:
                size = 4 if wire == _I32 else 8
                if b < 0x80:
                    m = _run_pattern(b, wire).match(buf, pos - 1, end)
                    if m.end() > pos - 1:
                        pos = m.end()
                        continue
                if size > end - pos:
                    raise _Stop("not a readable ONNX model: truncated field %d of %s (byte %d)"
                                % (field, what, tag_pos))
                pos += size
            else:
                raise _Stop("not a readable ONNX model: unsupported wire type %d (field %d of %s, "
                            "byte %d)" % (wire, field, what, tag_pos))
        if pos != end:
            raise _Stop("not a readable ONNX model: %s runs past its end" % what)
        self.left = left - n
        return out

    def string(self, span):
        return self.buf[span[0]:span[1]]

    def name_of(self, fields, number):
        """The last value of a string field, as printable text ('' when absent)."""
        raw = b""
        for f, v in fields:
            if f == number:
                raw = self.string(v)
        return _text(raw)

    # -- reporting -------------------------------------------------------------------------

    def report(self, text, where):
        if where:
            text = "%s, in %s" % (text, " > ".join(where))
        self.found.append(text)

    def domain(self, raw, where, used_by):
        if raw in _ALLOWED:
            return
        key = (used_by is None, raw)
        if key in self.seen:  # one line per domain, for nodes and for opset imports
            return
        self.seen.add(key)
        text = "custom operator domain '%s' (only %s are run)" % (_text(raw), _DOMAINS_TEXT)
        if used_by is None:
            self.report(text + ", imported by opset_import", where)
        else:
            self.report(text + ", used by " + used_by, where)

    # -- the messages ----------------------------------------------------------------------

    def model(self, start, end):
        fields = self.scan(start, end, {7: _LEN, 8: _LEN, 20: _LEN, 25: _LEN}, "ModelProto")
        graphs = 0
        for f, span in fields:
            if f == 8:
                self.opset(span, ())
            elif f == 7:
                graphs += 1
                self.graph(span, 0, ())
            elif f == 20:
                self.training_info(span)
            elif f == 25:
                self.function(span)
        if not graphs:
            raise _Stop("not a readable ONNX model: it has no graph")

    def opset(self, span, where):
        fields = self.scan(span[0], span[1], {1: _LEN}, "OperatorSetIdProto")
        for f, v in fields:
            self.domain(self.string(v), where, None)

    def training_info(self, span):
        fields = self.scan(span[0], span[1], {1: _LEN, 2: _LEN}, "TrainingInfoProto")
        for f, v in fields:
            self.graph(v, 0, ("training_info %s" % ("initialization" if f == 1 else "algorithm"),))

    def function(self, span):
        fields = self.scan(span[0], span[1], {1: _LEN, 7: _LEN, 9: _LEN, 11: _LEN},
                           "FunctionProto")
        where = ("function '%s'" % self.name_of(fields, 1),)
        for f, v in fields:
            if f == 9:
                self.opset(v, where)
            elif f == 7:
                self.node(v, 0, where)
            elif f == 11:
                self.attribute(v, 0, where + ("default attribute",))

    def graph(self, span, depth, where):
        if depth > self.max_depth:
            raise _Stop("subgraphs nested deeper than %d levels" % self.max_depth)
        fields = self.scan(span[0], span[1], {1: _LEN, 2: _LEN, 5: _LEN, 15: _LEN},
                           "GraphProto")
        where = where + ("graph '%s'" % self.name_of(fields, 2),)
        for f, v in fields:
            if f == 1:
                self.node(v, depth, where)
            elif f == 5:
                self.tensor(v, where + ("initializer",))
            elif f == 15:
                self.sparse(v, where + ("sparse_initializer",))

    def node(self, span, depth, where):
        fields = self.scan(span[0], span[1], {3: _LEN, 4: _LEN, 5: _LEN, 7: _LEN}, "NodeProto")
        label = "node '%s' (%s)" % (self.name_of(fields, 3), self.name_of(fields, 4))
        for f, v in fields:
            if f == 7:
                self.domain(self.string(v), where, label)
        where = where + (label,)
        for f, v in fields:
            if f == 5:
                self.attribute(v, depth, where)

    def attribute(self, span, depth, where):
        fields = self.scan(span[0], span[1],
                           {1: _LEN, 5: _LEN, 6: _LEN, 10: _LEN, 11: _LEN, 22: _LEN, 23: _LEN},
                           "AttributeProto")
        where = where + ("attribute '%s'" % self.name_of(fields, 1),)
        for f, v in fields:
            if f == 5 or f == 10:
                self.tensor(v, where)
            elif f == 6 or f == 11:
                self.graph(v, depth + 1, where)
            elif f == 22 or f == 23:
                self.sparse(v, where)

    def sparse(self, span, where):
        fields = self.scan(span[0], span[1], {1: _LEN, 2: _LEN}, "SparseTensorProto")
        for f, v in fields:
            self.tensor(v, where + ("sparse %s" % ("values" if f == 1 else "indices"),))

    def tensor(self, span, where):
        fields = self.scan(span[0], span[1], {8: _LEN, 13: _LEN, 14: _VARINT}, "TensorProto")
        external = False
        locations = []
        odd = []
        for f, v in fields:
            if f == 13:
                external = True
                entry = self.scan(v[0], v[1], {1: _LEN, 2: _LEN}, "StringStringEntryProto")
                key = b""
                value = b""
                for ef, ev in entry:
                    if ef == 1:
                        key = self.string(ev)
                    else:
                        value = self.string(ev)
                if key == b"location":
                    locations.append(_text(value, 200))
            elif f == 14:
                code = v & 0xFFFFFFFF  # onnxruntime reads the enum as an int32
                if code == 1:
                    external = True
                elif code:
                    odd.append(code)
        name = self.name_of(fields, 8)
        if external:
            detail = "; ".join(locations) if locations else "no location given"
            self.report("tensor '%s' stores its data outside the model (external data: %s)"
                        % (name, detail), where)
        for code in odd:
            self.report("tensor '%s' has an unknown data_location %d (only DEFAULT, 0, is read)"
                        % (name, code), where)


def _summary(found):
    unique = []
    seen = set()
    for text in found:
        if text not in seen:
            seen.add(text)
            unique.append(text)
    if len(unique) > MAX_PROBLEMS:
        rest = len(unique) - MAX_PROBLEMS
        unique = unique[:MAX_PROBLEMS] + ["... and %d more problems" % rest]
    return unique


def problems_in_bytes(data, max_bytes=MAX_BYTES, max_depth=MAX_DEPTH, max_fields=MAX_FIELDS):
    """Why the serialized ModelProto in data must not be run: a list of one-line reasons,
    empty when it may be. Never raises."""
    try:
        if not isinstance(data, bytes):
            data = bytes(data)
        if len(data) > max_bytes:
            return ["model too large to check: %d bytes (limit %d)" % (len(data), max_bytes)]
        walker = _Walker(data, max_depth, max_fields)
        try:
            walker.model(0, len(data))
        except _Stop as exc:
            return [str(exc)]
        except RecursionError:
            return ["subgraphs nested too deeply to check"]
        return _summary(walker.found)
    except Exception as exc:  # noqa: BLE001 - the contract: a problem, never an exception
        return ["could not check the ONNX model: %s: %s" % (type(exc).__name__,
                                                           _text(str(exc).encode(), 200))]


def _read(path, max_bytes):
    """(bytes, None) or (None, problem): a regular file of at most max_bytes, read once."""
    flags = (os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
             | getattr(os, "O_NOCTTY", 0))
    try:
        fd = os.open(path, flags)
    except (OSError, ValueError, TypeError) as exc:
        return None, "cannot read the ONNX model: %s" % _text(str(exc).encode(), 200)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None, "not a readable ONNX model: not a regular file"
        if st.st_size > max_bytes:
            return None, "model too large to check: %d bytes (limit %d)" % (st.st_size, max_bytes)
        chunks = []
        total = 0
        while total <= max_bytes:  # the file may grow after fstat
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > max_bytes:
            return None, "model too large to check: more than %d bytes" % max_bytes
        return b"".join(chunks), None
    except (OSError, MemoryError) as exc:
        return None, "cannot read the ONNX model: %s" % _text(str(exc).encode(), 200)
    finally:
        os.close(fd)


def read_model(path, max_bytes=MAX_BYTES, max_depth=MAX_DEPTH, max_fields=MAX_FIELDS):
    """(data, problems): the file's bytes (None when it could not be read) and why they must
    not be run (empty: they may; pass these same bytes to InferenceSession). Never raises."""
    try:
        data, problem = _read(path, max_bytes)
        if problem is not None:
            return None, [problem]
        return data, problems_in_bytes(data, max_bytes, max_depth, max_fields)
    except Exception as exc:  # noqa: BLE001
        return None, ["could not check the ONNX model: %s: %s" % (type(exc).__name__,
                                                                 _text(str(exc).encode(), 200))]


def problems(path, max_bytes=MAX_BYTES, max_depth=MAX_DEPTH, max_fields=MAX_FIELDS):
    """Why the ONNX file at path must not be run: a list of one-line reasons, empty when it
    may be. Never raises."""
    return read_model(path, max_bytes, max_depth, max_fields)[1]

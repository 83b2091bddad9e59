"""The module names an untrusted artifact refers to, read without running any of it.

The loader process calls this before it forks a child per artifact, on hostile input, so every
step is bounded: bytes read, bytes inflated, opcodes walked, memo kept, wall time, names returned,
zip directory and schema.json read. Nothing is unpickled and nothing named is imported; an error
or a cap ends the scan with the names found so far (the child then reports what is wrong).

Python >= 3.6, stdlib only: this runs in every environment, old ones included.
"""

import os
import re
import stat
import time
import zipfile
import zlib

try:
    import bz2
except ImportError:  # a Python built without _bz2: such files are scanned raw
    bz2 = None
try:
    import lzma
except ImportError:  # likewise without _lzma
    lzma = None

# -- Caps. An honest artifact of this matrix stays far below every one of them; each keeps an
# -- attacker's small file from costing the loader more than a few hundred MiB or seconds.

# Bytes read from disk: the head of a pickle is where its classes are named; a skops (zip) file
# larger than this is not scanned at all, since its directory is at the end.
MAX_READ = 64 << 20
# Bytes a compressed (joblib-z) stream may inflate to: a gzip bomb of GiB stays 64 MiB here.
MAX_INFLATED = 64 << 20
# Compressed streams followed one after the other (gzip/bz2/xz allow concatenation; joblib
# writes one): each costs a decompressor, and millions of empty ones would only cost time.
MAX_STREAMS = 1024
# Bytes read from disk, and inflated, per decompress call: neither the compressed input nor a
# decompressor's own output buffer is ever all in memory, only the inflated bytes kept.
READ_CHUNK = 1 << 20
# Opcodes walked: a 64 MiB file can hold 64 million 1-byte ops; honest models need far fewer
# before their last class is named (a 1M-word vocabulary is ~4M ops).
MAX_OPS = 10 * 1000 * 1000
# Memo entries kept (MEMOIZE/PUT): only strings are kept, and only to resolve a module name
# fetched back by GET for STACK_GLOBAL; millions of 1-byte MEMOIZE ops would otherwise fill a
# dict with millions of entries. The earliest ones win: names appear early in a pickle.
MAX_MEMO = 1 << 16
# Length of a string (in bytes) kept in the memo or taken as a module name: module names are
# short; longer strings are data and are skipped without being decoded.
MAX_NAME = 256
# Wall time of one artifact_modules call, checked every CHECK_EVERY ops (and per inflated or
# searched chunk) with time.monotonic: the scan only saves the children some imports.
MAX_SECONDS = 2.0
CHECK_EVERY = 4096
# Module names returned: a real model names a few dozen.
MAX_MODULES = 10000
# Zip (skops): bytes the zip directory (end record search, zip64 records, central directory)
# may read. zipfile parses the whole central directory into one ZipInfo per member (~0.5 kB
# each) as it opens a file, so 1 million tiny members in a 50 MB file would cost ~0.5 GB; this
# refuses such a file while zipfile is reading its directory. An honest skops file has one
# member per array (a few thousand for a big forest: ~100 bytes of directory each).
MAX_ZIP_DIRECTORY = 4 << 20
# Members a zip may list (after the directory cap): only schema.json is ever looked up.
MAX_ZIP_MEMBERS = 65535
# Bytes of schema.json actually inflated through zf.open(...).read(cap + 1): the header's
# file_size is the attacker's word, so what comes out is counted, and more than this refuses
# the file. A skops schema of a big model is a few MiB of JSON.
MAX_SCHEMA = 16 << 20

PICKLE_FORMATS = ("pickle", "pickle-p5", "cloudpickle", "joblib", "joblib-z")

_DECOMPRESSORS = []  # (magic, factory), as joblib recognises its compressed files
_DECOMPRESSORS.append((b"x", zlib.decompressobj))
_DECOMPRESSORS.append((b"\x1f\x8b", lambda: zlib.decompressobj(16 + zlib.MAX_WBITS)))
if bz2 is not None:
    _DECOMPRESSORS.append((b"BZh", bz2.BZ2Decompressor))
if lzma is not None:
    _DECOMPRESSORS.append((b"\xfd7zXZ\x00", lzma.LZMADecompressor))
    _DECOMPRESSORS.append((b"]\x00\x00", lzma.LZMADecompressor))

# Fallback when the opcode walk stops (joblib writes raw array bytes between opcodes): module
# names of these packages in the raw bytes after SHORT_BINUNICODE (0x8c, length) or GLOBAL ("c",
# up to a newline). Searched per chunk, so the deadline is checked between chunks.
_NAME_START = re.compile(
    rb"(\x8c.|c)(?:sklearn|numpy|scipy|joblib|skops|cloudpickle)(?![A-Za-z0-9_])", re.S)
_SEARCH_CHUNK = 1 << 20
_SEARCH_OVERLAP = 32  # > the longest match of _NAME_START, so no match is cut between chunks
# "__module__" values of a skops schema (JSON; module names need no escapes).
# "_sklearn_version" then, within a few opcode bytes, a version string (a heuristic for streams
# the walk cannot follow to the end).
_VERSION_AFTER_KEY = re.compile(rb"_sklearn_version[\x00-\x20\x8c\x94qX]{1,8}?"
                                rb"([0-9]{1,3}\.[0-9]{1,3}(?:\.[0-9]{1,3})?(?:(?:\.?dev|rc|a|b|\.post)[0-9]{0,4})?)")
_SKOPS_MODULE = re.compile(rb'"__module__"\s*:\s*"([A-Za-z0-9_.]{1,256})"')

# -- Pickle opcodes (protocols 0-5), as pickletools documents them. Kinds of argument:
_NONE, _FIXED, _LINE, _PAIR, _COUNTED = range(5)
# (code, name, kind, n): n is the byte size for _FIXED, the size of the length for _COUNTED
# (negative: signed length).
OPCODES = (
    (b".", "STOP", _NONE, 0), (b"(", "MARK", _NONE, 0), (b"0", "POP", _NONE, 0),
    (b"1", "POP_MARK", _NONE, 0), (b"2", "DUP", _NONE, 0), (b"N", "NONE", _NONE, 0),
    (b"\x88", "NEWTRUE", _NONE, 0), (b"\x89", "NEWFALSE", _NONE, 0),
    (b")", "EMPTY_TUPLE", _NONE, 0), (b"t", "TUPLE", _NONE, 0), (b"\x85", "TUPLE1", _NONE, 0),
    (b"\x86", "TUPLE2", _NONE, 0), (b"\x87", "TUPLE3", _NONE, 0), (b"]", "EMPTY_LIST", _NONE, 0),
    (b"a", "APPEND", _NONE, 0), (b"e", "APPENDS", _NONE, 0), (b"l", "LIST", _NONE, 0),
    (b"}", "EMPTY_DICT", _NONE, 0), (b"d", "DICT", _NONE, 0), (b"s", "SETITEM", _NONE, 0),
    (b"u", "SETITEMS", _NONE, 0), (b"\x8f", "EMPTY_SET", _NONE, 0),
    (b"\x90", "ADDITEMS", _NONE, 0), (b"\x91", "FROZENSET", _NONE, 0),
    (b"Q", "BINPERSID", _NONE, 0), (b"R", "REDUCE", _NONE, 0), (b"b", "BUILD", _NONE, 0),
    (b"o", "OBJ", _NONE, 0), (b"\x81", "NEWOBJ", _NONE, 0), (b"\x92", "NEWOBJ_EX", _NONE, 0),
    (b"\x93", "STACK_GLOBAL", _NONE, 0), (b"\x94", "MEMOIZE", _NONE, 0),
    (b"\x97", "NEXT_BUFFER", _NONE, 0), (b"\x98", "READONLY_BUFFER", _NONE, 0),
    (b"J", "BININT", _FIXED, 4), (b"K", "BININT1", _FIXED, 1), (b"M", "BININT2", _FIXED, 2),
    (b"G", "BINFLOAT", _FIXED, 8), (b"\x80", "PROTO", _FIXED, 1), (b"\x82", "EXT1", _FIXED, 1),
    (b"\x83", "EXT2", _FIXED, 2), (b"\x84", "EXT4", _FIXED, 4), (b"\x95", "FRAME", _FIXED, 8),
    (b"h", "BINGET", _FIXED, 1), (b"j", "LONG_BINGET", _FIXED, 4), (b"q", "BINPUT", _FIXED, 1),
    (b"r", "LONG_BINPUT", _FIXED, 4),
    (b"I", "INT", _LINE, 0), (b"L", "LONG", _LINE, 0), (b"F", "FLOAT", _LINE, 0),
    (b"S", "STRING", _LINE, 0), (b"V", "UNICODE", _LINE, 0), (b"P", "PERSID", _LINE, 0),
    (b"g", "GET", _LINE, 0), (b"p", "PUT", _LINE, 0),
    (b"c", "GLOBAL", _PAIR, 0), (b"i", "INST", _PAIR, 0),
    (b"\x8a", "LONG1", _COUNTED, 1), (b"\x8b", "LONG4", _COUNTED, -4),
    (b"U", "SHORT_BINSTRING", _COUNTED, 1), (b"T", "BINSTRING", _COUNTED, -4),
    (b"C", "SHORT_BINBYTES", _COUNTED, 1), (b"B", "BINBYTES", _COUNTED, 4),
    (b"\x8e", "BINBYTES8", _COUNTED, 8), (b"\x8c", "SHORT_BINUNICODE", _COUNTED, 1),
    (b"X", "BINUNICODE", _COUNTED, 4), (b"\x8d", "BINUNICODE8", _COUNTED, 8),
    (b"\x96", "BYTEARRAY8", _COUNTED, 8),
)
_TABLE = [None] * 256
for _code, _name, _kind, _n in OPCODES:
    _TABLE[ord(_code)] = (_kind, _n)
_STOP, _MEMOIZE, _STACK_GLOBAL, _FRAME, _PUT = ord("."), 0x94, 0x93, 0x95, ord("p")
_PUTS = frozenset((ord("q"), ord("r")))          # BINPUT, LONG_BINPUT
_GETS = frozenset((ord("h"), ord("j")))          # BINGET, LONG_BINGET
_TEXT_MEMO = frozenset((ord("p"), ord("g")))     # PUT, GET (protocol 0: a decimal line)
_TEXT_STRINGS = frozenset((ord("S"), ord("V")))  # STRING (a repr), UNICODE (raw-unicode-escape)
_STRINGS = {ord("U"): "latin-1", ord("T"): "latin-1", ord("\x8c"): "utf-8", ord("X"): "utf-8",
            0x8d: "utf-8"}
_DONE, _STOPPED, _CAPPED = "done", "stopped", "capped"


def scan_limits():
    """The caps of a scan, by name (for documentation)."""
    return {"max_read_bytes": MAX_READ, "max_inflated_bytes": MAX_INFLATED,
            "max_compressed_streams": MAX_STREAMS, "max_opcodes": MAX_OPS,
            "max_memo_entries": MAX_MEMO, "max_name_length": MAX_NAME,
            "max_seconds": MAX_SECONDS, "check_every_opcodes": CHECK_EVERY,
            "max_modules": MAX_MODULES, "max_zip_directory_bytes": MAX_ZIP_DIRECTORY,
            "max_zip_members": MAX_ZIP_MEMBERS, "max_schema_bytes": MAX_SCHEMA}


def artifact_modules(path, fmt):
    """Module names an artifact's pickle opcodes (GLOBAL, INST, STACK_GLOBAL) or skops schema
    ("__module__") name; never raises: what was found before an error or a cap, or an empty set."""
    found = set()
    deadline = time.monotonic() + MAX_SECONDS
    try:
        if fmt == "skops":
            _skops(path, found, deadline)
        elif fmt in PICKLE_FORMATS:
            data = _read_stream(path, deadline)
            if data:
                _pickle(data, found, deadline)
    except Exception:  # noqa: BLE001 - MemoryError included: hostile or broken, the child says
        pass
    return found


def pickle_modules(data, seconds=MAX_SECONDS):
    """Module names in the pickle stream data (bytes), under the same caps; never raises."""
    found = set()
    try:
        _pickle(data, found, time.monotonic() + seconds)
    except Exception:  # noqa: BLE001
        pass
    return found


def inspect_pickle(path, seconds=MAX_SECONDS):
    """{"modules", "globals", "versions", "complete"} of a pickle or joblib file (decompressed as
    joblib does), under the same caps, without running it; never raises."""
    found, info = set(), {"globals": set(), "versions": set()}
    status = _STOPPED
    try:
        deadline = time.monotonic() + seconds
        data = _read_stream(path, deadline)
        if data:
            status = _walk(data, found, deadline, info)
            if status != _DONE:  # joblib's raw array bytes stop the walk: search the rest
                _search(data, found, deadline)
                for match in _VERSION_AFTER_KEY.finditer(data):
                    info["versions"].add(match.group(1).decode("ascii"))
                    if len(info["versions"]) >= 100:
                        break
    except Exception:  # noqa: BLE001 - what was found before the problem
        pass
    return {"modules": found, "globals": info["globals"], "versions": info["versions"],
            "complete": status == _DONE}


def skops_schema(path, seconds=MAX_SECONDS):
    """The bytes of a skops file's schema.json, under the same caps, or None; never raises."""
    holder = []
    try:
        _skops(path, set(), time.monotonic() + seconds, holder)
    except Exception:  # noqa: BLE001
        pass
    return holder[0] if holder else None


def skops_modules(path, seconds=MAX_SECONDS):
    """Module names in a skops file's schema.json, under the same caps; never raises."""
    found = set()
    try:
        _skops(path, found, time.monotonic() + seconds)
    except Exception:  # noqa: BLE001
        pass
    return found


def _add(found, name):
    """Keep name when it can be a module name; False once MAX_MODULES are kept."""
    if len(found) >= MAX_MODULES:
        return False
    if name and len(name) <= MAX_NAME and all(p.isidentifier() for p in name.split(".")):
        found.add(name)
    return len(found) < MAX_MODULES


def _open_regular(path):
    """A binary file object on path and its size, or None when path is no regular file (a
    directory, FIFO or device: opened without blocking, never read)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | \
        getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            return None
        return os.fdopen(fd, "rb", buffering=0), info.st_size
    except Exception:
        os.close(fd)
        raise


def _read_stream(path, deadline):
    """The first MAX_READ bytes of a pickle file, or what its compressed stream (joblib's magic
    numbers) inflates to, at most MAX_INFLATED; b"" when path is no regular file."""
    opened = _open_regular(path)
    if opened is None:
        return b""
    fh, size = opened
    with fh:
        want = min(size, MAX_READ)  # the size on disk, not the cap: nothing larger is allocated
        head = fh.read(8)
        fh.seek(0)
        for magic, make in _DECOMPRESSORS:
            if head.startswith(magic):
                return _inflate(fh, make, want, deadline)
        return _read_full(fh, want)


def _read_full(fh, size):
    """Up to size bytes of fh, read into one buffer (no copy of 64 MiB to join chunks)."""
    buf = bytearray(size)
    view = memoryview(buf)
    got = 0
    while got < size:
        n = fh.readinto(view[got:])
        if not n:
            break
        got += n
    view.release()
    del buf[got:]
    return buf


def _inflate(fh, make, left, deadline):
    """Inflate the compressed stream(s) in the next left bytes of fh into at most MAX_INFLATED
    bytes, READ_CHUNK read at a time; a corrupt or cut stream ends with what came out before."""
    out, data = bytearray(), b""
    streams = 1
    decomp = make()
    try:
        while len(out) < MAX_INFLATED and time.monotonic() < deadline:
            if not data and getattr(decomp, "needs_input", True):
                if left <= 0:
                    break
                data = fh.read(min(left, READ_CHUNK))
                left -= len(data)
                if not data:
                    break
            out += decomp.decompress(data, min(READ_CHUNK, MAX_INFLATED - len(out)))
            data = getattr(decomp, "unconsumed_tail", b"")  # zlib; bz2/lzma keep it themselves
            if decomp.eof:  # the next concatenated stream, if any
                data = decomp.unused_data + data
                streams += 1
                if streams > MAX_STREAMS or (not data and left <= 0):
                    break
                decomp = make()
    except Exception:  # noqa: BLE001 - corrupt or cut: what came out is still scanned
        pass
    return out


def _pickle(data, found, deadline):
    status = _walk(data, found, deadline)
    if status != _DONE and len(found) < MAX_MODULES:
        _search(data, found, deadline)


def _walk(data, found, deadline, info=None):
    """Follow the opcodes of data, adding the modules GLOBAL/INST/STACK_GLOBAL name to found.
    STACK_GLOBAL takes its module from the second-last string pushed (memo PUT/GET followed).
    info, when given, also receives "globals" (module.name) and "versions" (the strings that
    follow a "_sklearn_version" key)."""
    memo, memo_next = {}, 0
    prev = last = None  # the values of the last two pushes: a str, or None for anything else
    table, end, pos, ops = _TABLE, len(data), 0, 0
    while pos < end:
        ops += 1
        if ops % CHECK_EVERY == 0 and (ops >= MAX_OPS or time.monotonic() >= deadline):
            return _CAPPED
        code = data[pos]
        entry = table[code]
        if entry is None:
            return _STOPPED  # no opcode: joblib's raw array bytes, or garbage
        pos += 1
        kind, n = entry
        value = None
        if kind == _NONE:
            if code == _MEMOIZE:
                _store(memo, memo_next, last)
                memo_next += 1
                continue  # stores the top of the stack, pushes nothing
            if code == _STOP:
                return _DONE
            if code == _STACK_GLOBAL and prev is not None:
                if not _add(found, prev):
                    return _CAPPED
                if info is not None and isinstance(last, str) and len(info["globals"]) < MAX_MODULES:
                    info["globals"].add(prev + "." + last)
        elif kind == _FIXED:
            if pos + n > end:
                return _STOPPED
            if code == _FRAME:
                pos += n
                continue  # frames only group the opcodes that follow
            if code in _PUTS or code in _GETS:
                index = data[pos] if n == 1 else int.from_bytes(data[pos:pos + n], "little")
                pos += n
                if code in _PUTS:
                    _store(memo, index, last)
                    continue
                value = memo.get(index)
            else:
                pos += n
        elif kind == _LINE:
            newline = data.find(b"\n", pos)
            if newline < 0:
                return _STOPPED
            # Only a short line is looked at; INT and LONG are never converted (int() of a long
            # line takes quadratic time).
            line = bytes(data[pos:newline]) if newline - pos <= MAX_NAME + 2 else None
            pos = newline + 1
            if code in _TEXT_MEMO:
                digits = line is not None and line.isdigit() and len(line) <= 18
                index = int(line) if digits else None
                if code == _PUT:
                    if index is not None:
                        _store(memo, index, last)
                    continue
                value = memo.get(index)
            elif code in _TEXT_STRINGS and line is not None:
                value = _text_string(code, line)
        elif kind == _PAIR:  # GLOBAL / INST: "module\nname\n"
            newline = data.find(b"\n", pos)
            second = data.find(b"\n", newline + 1) if newline >= 0 else -1
            if second < 0:
                return _STOPPED
            if newline - pos <= MAX_NAME:
                if not _add(found, _decode(data[pos:newline], "utf-8")):
                    return _CAPPED
                if info is not None and second - newline <= MAX_NAME and len(info["globals"]) < MAX_MODULES:
                    info["globals"].add("%s.%s" % (_decode(data[pos:newline], "utf-8"),
                                                   _decode(data[newline + 1:second], "utf-8")))
            pos = second + 1
        else:  # _COUNTED: a little-endian length, then that many bytes
            width = abs(n)
            if pos + width > end:
                return _STOPPED
            size = int.from_bytes(data[pos:pos + width], "little", signed=n < 0)
            pos += width
            if size < 0 or pos + size > end:
                return _STOPPED
            encoding = _STRINGS.get(code)
            if encoding is not None and size <= MAX_NAME:
                value = _decode(data[pos:pos + size], encoding)
            pos += size
        prev, last = last, value
        if info is not None and prev == "_sklearn_version" and isinstance(last, str) \
                and len(info["versions"]) < 100:
            info["versions"].add(last[:40])
    return _STOPPED  # the end of data before STOP: cut at MAX_READ, or truncated


def _store(memo, index, value):
    """memo[index] = value for a short string, at most MAX_MEMO entries (anything else stored
    under index forgets the string that was there)."""
    if value is None:
        memo.pop(index, None)
    elif index in memo or len(memo) < MAX_MEMO:
        memo[index] = value


def _decode(raw, encoding):
    try:
        return bytes(raw).decode(encoding)
    except Exception:  # noqa: BLE001 - not text: no module name
        return None


def _text_string(code, line):
    """The value of a short STRING (a quoted repr) or UNICODE line; None when escaped."""
    if code == ord("S"):
        if len(line) < 2 or line[:1] not in (b"'", b'"') or line[-1:] != line[:1] or b"\\" in line:
            return None
        return _decode(line[1:-1], "latin-1")
    if b"\\" in line:
        return None
    return _decode(line, "latin-1")


def _search(data, found, deadline):
    """The fallback past what the opcode walk could read: module names of known packages in the
    raw bytes (see _NAME_START), chunk by chunk until the deadline."""
    end = len(data)
    for lo in range(0, end, _SEARCH_CHUNK):
        if time.monotonic() >= deadline:
            return
        hi = lo + _SEARCH_CHUNK
        for match in _NAME_START.finditer(data, lo, min(end, hi + _SEARCH_OVERLAP)):
            start = match.start()
            if start >= hi:
                break  # the next chunk's
            head = match.group(1)
            begin = start + len(head)
            if len(head) == 2:  # SHORT_BINUNICODE: its length byte says where the name ends
                stop = begin + head[1]
                if stop > end:
                    continue
            else:  # GLOBAL: the module ends at a newline
                stop = data.find(b"\n", begin, begin + MAX_NAME + 1)
                if stop < 0:
                    continue
            if not _add(found, _decode(data[begin:stop], "ascii")):
                return


class _Budget(object):
    """A read-only file for zipfile that refuses to hand out more than `left` bytes in all (set
    per phase), before reading them."""

    def __init__(self, fh, size):
        self._fh, self._size, self.left = fh, size, 0

    def read(self, n=-1):
        if n is None or n < 0:
            n = max(0, self._size - self._fh.tell())
        if n > self.left:
            raise IOError("zip scan: over its read budget")
        data = self._fh.read(n)
        self.left -= len(data)
        return data

    def seek(self, offset, whence=0):
        return self._fh.seek(offset, whence)

    def tell(self):
        return self._fh.tell()

    def seekable(self):
        return True

    def close(self):
        pass

    def flush(self):
        pass


def _skops(path, found, deadline, holder=None):
    """The "__module__" values of schema.json in the skops (zip) file at path (holder, when
    given, receives the schema's bytes)."""
    opened = _open_regular(path)
    if opened is None:
        return
    fh, size = opened
    with fh:
        if size > MAX_READ:
            return  # its directory is at the end: reading that far is already too much
        budget = _Budget(fh, size)
        # The end record search reads up to 64 KiB + 22 bytes, zip64 records 76 more.
        budget.left = MAX_ZIP_DIRECTORY + (1 << 17)
        zf = zipfile.ZipFile(budget)
        try:
            if len(zf.filelist) > MAX_ZIP_MEMBERS or time.monotonic() >= deadline:
                return
            info = zf.getinfo("schema.json")  # KeyError when missing: no skops file
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                return  # zipfile inflates bzip2/lzma members without an output bound
            # Local header, name and extra field (64 KiB each at most), then the data.
            budget.left = MAX_SCHEMA + (1 << 18)
            with zf.open(info) as member:
                text = member.read(MAX_SCHEMA + 1)
        finally:
            zf.close()
    if len(text) > MAX_SCHEMA or time.monotonic() >= deadline:
        return
    if holder is not None:
        holder.append(text)
    for match in _SKOPS_MODULE.finditer(text):
        if not _add(found, match.group(1).decode("ascii")):
            return

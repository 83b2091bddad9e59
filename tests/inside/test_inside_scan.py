"""Tests of harness/inside/load/scan.py: module names read from honest artifacts, and crafted hostile
files that must stay bounded in memory and time (each scanned in a subprocess under RLIMIT_AS).

Nothing hostile is ever unpickled; honest artifacts are built (and, for the reference sets,
loaded) here from models this test fits itself.
"""

import bz2
import gzip
import io
import json
import lzma
import os
import pickle
import pickletools
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pytest

from harness.inside.load import scan

REPO = Path(__file__).resolve().parents[2]
AS_LIMIT = 512 << 20
MAX_RSS = 300 << 20   # the caps allow ~64 MiB of data, a copy or two, and the interpreter
SLACK = 1.5           # seconds over MAX_SECONDS a subprocess may take (start-up, reading)

# Scans one or more files in a fresh interpreter under an address-space limit; prints one JSON
# line per file. Only `inside` is imported: what the loader imports before it forks.
RUNNER = r"""
import json, resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (%d, %d))
sys.path.insert(0, %r)
from inside.load import scan


def peak():
    # VmHWM: this process's own peak; ru_maxrss would keep the forking parent's across exec.
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


seconds = float(sys.argv[1])
if seconds > 0:
    scan.MAX_SECONDS = seconds
for arg in sys.argv[2:]:
    fmt, path = arg.split(":", 1)
    start = time.monotonic()
    found = scan.artifact_modules(path, fmt)
    print(json.dumps({"found": sorted(found), "seconds": time.monotonic() - start,
                      "maxrss": peak()}))
""" % (AS_LIMIT, AS_LIMIT, str(REPO / "harness"))


def _scan_bounded(python, items, seconds=0.0, timeout=30):
    proc = subprocess.run([str(python), "-c", RUNNER, str(seconds)]
                          + ["%s:%s" % (fmt, path) for fmt, path in items],
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [json.loads(line) for line in proc.stdout.splitlines()]


# -- Honest artifacts ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def model():
    """A fitted pipeline: its second step is named after the first step's raw arrays."""
    np = pytest.importorskip("numpy")
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.RandomState(0)
    X = rng.rand(60, 4)
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(X, (X[:, 0] > 0.5).astype(int))


SKLEARN = {"sklearn.pipeline", "sklearn.preprocessing._data", "sklearn.linear_model._logistic"}


def _reference(data):
    """The modules the unpickler itself asks for (an honest pickle made here, safe to load)."""
    seen = set()

    class Recorder(pickle.Unpickler):
        def find_class(self, module, name):
            seen.add(module)
            return pickle.Unpickler.find_class(self, module, name)

    Recorder(io.BytesIO(data)).load()
    return seen


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_pickle_protocols(model, tmp_path, protocol):
    data = pickle.dumps(model, protocol=protocol)
    path = tmp_path / "model.pkl"
    path.write_bytes(data)
    got = scan.artifact_modules(str(path), "pickle-p5" if protocol == 5 else "pickle")
    assert SKLEARN <= got
    assert got == _reference(data)


def test_cloudpickle(model, tmp_path):
    cloudpickle = pytest.importorskip("cloudpickle")
    from sklearn.preprocessing import FunctionTransformer

    path = tmp_path / "model.cloudpickle.pkl"
    path.write_bytes(cloudpickle.dumps(model))
    assert scan.artifact_modules(str(path), "cloudpickle") == _reference(path.read_bytes())
    path.write_bytes(cloudpickle.dumps(FunctionTransformer(func=lambda x: x + 1)))
    got = scan.artifact_modules(str(path), "cloudpickle")
    assert "sklearn.preprocessing._function_transformer" in got
    assert any(name.startswith("cloudpickle") for name in got)  # its dynamic-function helpers


@pytest.mark.parametrize("compress", [0, 3, ("gzip", 3), ("bz2", 3), ("xz", 3), ("lzma", 3)],
                         ids=["plain", "zlib", "gzip", "bz2", "xz", "lzma"])
def test_joblib(model, tmp_path, compress):
    joblib = pytest.importorskip("joblib")
    path = tmp_path / "model.joblib"
    joblib.dump(model, str(path), compress=compress)
    got = scan.artifact_modules(str(path), "joblib-z" if compress else "joblib")
    # The LogisticRegression comes after the scaler's raw arrays: found by the byte fallback.
    assert SKLEARN | {"joblib.numpy_pickle"} <= got
    assert all(name.split(".")[0] in ("sklearn", "numpy", "joblib") for name in got), got


def test_skops(model, tmp_path):
    sio = pytest.importorskip("skops.io")
    path = tmp_path / "model.skops"
    path.write_bytes(sio.dumps(model))
    with zipfile.ZipFile(str(path)) as zf:
        schema = json.loads(zf.read("schema.json").decode("utf-8"))
    expected = set()

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("__module__"), str):
                expected.add(node["__module__"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    got = scan.artifact_modules(str(path), "skops")
    assert SKLEARN <= got
    assert got == expected


def test_onnx_and_unknown_formats_name_nothing(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(pickle.dumps(OSError, protocol=2))
    assert scan.artifact_modules(str(path), "onnx") == set()
    assert scan.artifact_modules(str(path), "no-such-format") == set()


def test_opcode_table_matches_pickletools():
    ours = {code: (name, kind, n) for code, name, kind, n in scan.OPCODES}
    for op in pickletools.opcodes:
        code = op.code.encode("latin-1")
        assert ours[code][0] == op.name
        arg = op.arg
        if arg is None:
            assert ours[code][1] == scan._NONE
        elif arg.n > 0:
            assert ours[code][1:] == (scan._FIXED, arg.n), op.name
        elif arg.n == pickletools.UP_TO_NEWLINE:
            assert ours[code][1] in (scan._LINE, scan._PAIR), op.name
        else:
            width = {pickletools.TAKEN_FROM_ARGUMENT1: 1, pickletools.TAKEN_FROM_ARGUMENT4: -4,
                     pickletools.TAKEN_FROM_ARGUMENT4U: 4,
                     getattr(pickletools, "TAKEN_FROM_ARGUMENT8U", -5): 8}[arg.n]
            assert ours[code][1:] == (scan._COUNTED, width), op.name
    assert len(ours) >= len(pickletools.opcodes)


def test_module_cap_and_memo_resolution():
    many = b"".join(b"cmod%d\nname\n0" % i for i in range(scan.MAX_MODULES + 500)) + b"."
    assert len(scan.pickle_modules(b"\x80\x02" + many)) == scan.MAX_MODULES
    # STACK_GLOBAL whose module comes back from the memo (BINGET), as pickle writes repeats.
    data = (b"\x80\x04\x8c\x0csklearn.tree\x94\x8c\x01A\x94\x93\x94" b"h\x00\x8c\x01B\x93."
            b"\x8c\x08skip.me!\x93")  # past STOP: not walked; "skip.me!" is no module name anyway
    assert scan.pickle_modules(data) == {"sklearn.tree"}


def test_scan_limits_documents_every_cap():
    limits = scan.scan_limits()
    assert limits["max_read_bytes"] == scan.MAX_READ == 64 << 20
    assert limits["max_inflated_bytes"] == scan.MAX_INFLATED
    assert limits["max_name_length"] == 256 and limits["max_modules"] == 10000
    assert limits["max_seconds"] == 2.0
    for key in ("max_opcodes", "max_memo_entries", "max_zip_directory_bytes", "max_zip_members",
                "max_schema_bytes", "max_compressed_streams", "check_every_opcodes"):
        assert limits[key] > 0


# -- Not a file, truncated ----------------------------------------------------------------------

def test_not_a_regular_file(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(str(fifo))  # opening it blockingly would wait for a writer forever
    link = tmp_path / "zero"
    link.symlink_to("/dev/zero")
    items = [(fmt, path) for fmt in ("pickle", "joblib-z", "skops")
             for path in (str(tmp_path), str(tmp_path / "missing"), str(fifo), str(link))]
    for result in _scan_bounded(sys.executable, items, timeout=10):
        assert result["found"] == [] and result["seconds"] < 0.5


def test_truncated(model, tmp_path):
    joblib = pytest.importorskip("joblib")
    sio = pytest.importorskip("skops.io")
    files = {"pickle": pickle.dumps(model, protocol=4), "skops": sio.dumps(model)}
    buf = io.BytesIO()
    joblib.dump(model, buf, compress=3)
    files["joblib-z"] = buf.getvalue()
    for fmt, data in files.items():
        full = tmp_path / "full"
        full.write_bytes(data)
        complete = scan.artifact_modules(str(full), fmt)
        for size in (0, 1, 5, len(data) // 3, len(data) // 2, len(data) - 1):
            path = tmp_path / ("cut%d" % size)
            path.write_bytes(data[:size])
            assert scan.artifact_modules(str(path), fmt) <= complete, (fmt, size)


# -- Hostile files ------------------------------------------------------------------------------

_PREFIX = b"\x80\x04\x8c\x0csklearn.base\x94\x8c\x0dBaseEstimator\x94\x93\x94"  # names sklearn.base


def _short_unicode_ops(count):
    """count BINUNICODE ops of distinct 4-letter strings, each memoized: 10 bytes an op."""
    np = pytest.importorskip("numpy")
    ops = np.zeros((count, 10), dtype=np.uint8)
    ops[:, 0], ops[:, 1], ops[:, 9] = ord("X"), 4, 0x94
    index = np.arange(count)
    for i in range(4):
        ops[:, 5 + i] = ord("a") + (index // 26 ** i) % 26
    return ops.tobytes()


def _deflate_zeros(size, wbits):
    """A deflate stream (raw, or zlib with its header) inflating to size zero bytes, built from
    one repeated full-flush segment: ~1 kB per MiB, fast."""
    chunk = 1 << 20
    comp = zlib.compressobj(9, zlib.DEFLATED, wbits)
    first = comp.compress(bytes(chunk)) + comp.flush(zlib.Z_FULL_FLUSH)
    again = comp.compress(bytes(chunk)) + comp.flush(zlib.Z_FULL_FLUSH)
    return first + again * (size // chunk - 1) + comp.flush()


def _gzip_bomb(size):
    """As tests/stages/test_load_stage.py: a joblib-z of a pickle of size zero bytes, gzip members."""
    chunk = 64 << 20
    header = pickle.PROTO + b"\x04" + pickle.BINBYTES8 + size.to_bytes(8, "little")
    zeros = gzip.compress(bytes(chunk), compresslevel=9)
    return gzip.compress(header) + zeros * (size // chunk) + gzip.compress(pickle.STOP)


_LOCAL = "<4s2B4HL2L2H"
_CENTRAL = "<4s4B4HL2L5H2L"
_END = "<4s4H2LH"


def _zip(members, directory_size=None):
    """A zip file by hand: members are (name, method, stored bytes, crc, compress_size,
    file_size), the sizes written as given (so they can lie)."""
    out, central = bytearray(), []
    for name, method, data, crc, csize, fsize in members:
        offset = len(out)
        out += struct.pack(_LOCAL, b"PK\x03\x04", 20, 0, 0, method, 0, 0x21, crc, csize, fsize,
                           len(name), 0) + name + data
        central.append(struct.pack(_CENTRAL, b"PK\x01\x02", 20, 3, 20, 0, 0, method, 0, 0x21, crc,
                                   csize, fsize, len(name), 0, 0, 0, 0, 0, offset) + name)
    directory = b"".join(central)
    start = len(out)
    count = min(len(members), 0xFFFF)
    out += directory + struct.pack(_END, b"PK\x05\x06", 0, 0, count, count,
                                   len(directory) if directory_size is None else directory_size,
                                   start, 0)
    return bytes(out)


SCHEMA = json.dumps({"__class__": "LogisticRegression",
                     "__module__": "sklearn.linear_model._logistic"}).encode()


def _many_members(count):
    """A zip whose central directory lists count members (all pointing at one real
    schema.json): ~53 bytes of directory each, written directly."""
    local = struct.pack(_LOCAL, b"PK\x03\x04", 20, 0, 0, 0, 0, 0x21, zlib.crc32(SCHEMA),
                        len(SCHEMA), len(SCHEMA), 11, 0) + b"schema.json" + SCHEMA
    entry = struct.pack(_CENTRAL, b"PK\x01\x02", 20, 3, 20, 0, 0, 0, 0, 0x21, zlib.crc32(SCHEMA),
                        len(SCHEMA), len(SCHEMA), 7, 0, 0, 0, 0, 0, 0)
    directory = b"".join([entry + b"%07d" % i for i in range(count)])
    return local + directory + struct.pack(_END, b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF,
                                           len(directory), len(local), 0)


def _attacks():
    """name -> (format, a function building the file's bytes, modules the scan must report)."""
    crc = zlib.crc32(SCHEMA)
    stored = [(b"schema.json", 0, SCHEMA, crc, len(SCHEMA), len(SCHEMA))]

    def deflated_schema(claimed):
        deflated = _deflate_zeros(1 << 30, -15)
        return _zip([(b"schema.json", 8, deflated, crc, len(deflated), claimed)])

    def bzip2_schema():
        packed = bz2.compress(SCHEMA)
        return _zip([(b"schema.json", 12, packed, crc, len(packed), len(SCHEMA))])

    return {
        # 20 million 1-byte MEMOIZE after a string: each would keep a memo entry.
        "memoize-20M": ("pickle", lambda: _PREFIX + b"\x8c\x01a" + b"\x94" * (20 * 1000 * 1000)
                        + b".", {"sklearn.base"}),
        "binunicode-6M": ("pickle", lambda: _PREFIX + _short_unicode_ops(6 * 1000 * 1000) + b".",
                          {"sklearn.base"}),
        "marks-60M": ("pickle", lambda: _PREFIX + b"(" * (60 * 1000 * 1000) + b".",
                      {"sklearn.base"}),
        # int() of a 60-million-digit LONG or PUT line would take hours: never converted.
        "long-decimal": ("pickle", lambda: b"\x80\x02L" + b"9" * (60 << 20) + b"L\np" + b"7" * 1000
                         + b"\ncsklearn.tree\nX\n.", {"sklearn.tree"}),
        # A length of 2**62: the walk stops; the byte fallback still finds what follows.
        "huge-length": ("joblib", lambda: _PREFIX + b"\x8e" + (1 << 62).to_bytes(8, "little")
                        + b"\x8c\x0bsklearn.svm\x94.", {"sklearn.base", "sklearn.svm"}),
        "gzip-bomb-4G": ("joblib-z", lambda: _gzip_bomb(4 << 30), set()),
        "zlib-bomb-1G": ("joblib-z", lambda: _deflate_zeros(1 << 30, 15), set()),
        "bz2-streams": ("joblib-z", lambda: bz2.compress(_PREFIX + b"0")
                        + bz2.compress(bytes(8 << 20), 1) * 16, {"sklearn.base"}),
        "xz-streams": ("joblib-z", lambda: lzma.compress(_PREFIX + b"0")
                       + lzma.compress(bytes(8 << 20), preset=0) * 16, {"sklearn.base"}),
        "gzip-100k-members": ("joblib-z", lambda: gzip.compress(_PREFIX + b"0")
                              + gzip.compress(b"") * 100000, {"sklearn.base"}),
        "skops-stored": ("skops", lambda: _zip(stored), {"sklearn.linear_model._logistic"}),
        # schema.json's headers claim 100 bytes; its deflate stream inflates to 1 GiB.
        "skops-lying-size": ("skops", lambda: deflated_schema(100), set()),
        # The same, the headers telling the truth: more than MAX_SCHEMA comes out, refused.
        "skops-1G-schema": ("skops", lambda: deflated_schema(1 << 30), set()),
        "skops-1M-members": ("skops", lambda: _many_members(1000 * 1000), set()),
        "skops-directory-4G": ("skops", lambda: _zip(stored, directory_size=0xFFFFFF00), set()),
        # zipfile inflates bzip2 members without an output bound: not read at all.
        "skops-bzip2-member": ("skops", bzip2_schema, set()),
    }


@pytest.fixture(scope="module")
def attack_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("attacks")
    files = {}
    for name, (fmt, build, expected) in _attacks().items():
        path = folder / name
        path.write_bytes(build())
        files[name] = (fmt, str(path), expected)
    big = folder / "skops-over-64MiB"
    with open(str(big), "wb") as fh:  # sparse: nothing of it is read
        fh.write(_zip([(b"schema.json", 0, SCHEMA, zlib.crc32(SCHEMA), len(SCHEMA), len(SCHEMA))]))
        fh.truncate(scan.MAX_READ + 1)
    files["skops-over-64MiB"] = ("skops", str(big), set())
    return files


ATTACKS = ["memoize-20M", "binunicode-6M", "marks-60M", "long-decimal", "huge-length",
           "gzip-bomb-4G", "zlib-bomb-1G", "bz2-streams", "xz-streams", "gzip-100k-members",
           "skops-stored", "skops-lying-size", "skops-1G-schema", "skops-1M-members",
           "skops-directory-4G", "skops-bzip2-member", "skops-over-64MiB"]


@pytest.mark.parametrize("name", ATTACKS)
def test_attack_bounded(attack_files, name):
    fmt, path, expected = attack_files[name]
    (result,) = _scan_bounded(sys.executable, [(fmt, path)])
    assert result["seconds"] < scan.MAX_SECONDS + SLACK, result
    assert result["maxrss"] < MAX_RSS, result
    assert set(result["found"]) == expected, result


def test_the_oldest_python(attack_files, tmp_path, oldest_python):
    source = (REPO / "harness/inside/load/scan.py").read_text()
    subprocess.run([str(oldest_python), "-c", "import ast, sys; ast.parse(sys.stdin.read())"],
                   input=source, text=True, check=True)
    honest = tmp_path / "honest.pkl"
    subprocess.run([str(oldest_python), "-c", "import collections, pickle, sys; open(sys.argv[1], 'wb')"
                    ".write(pickle.dumps(collections.OrderedDict(a=1), protocol=2))", str(honest)],
                   check=True)
    names = sorted(attack_files)
    results = _scan_bounded(oldest_python, [("pickle", str(honest))] + [attack_files[n][:2] for n in names],
                            seconds=0.3, timeout=60)
    assert results[0]["found"] == ["collections"]
    for name, result in zip(names, results[1:]):
        assert result["seconds"] < 0.3 + SLACK, (name, result)
        assert set(result["found"]) <= attack_files[name][2] | {"sklearn.base"}, (name, result)
    assert results[-1]["maxrss"] < MAX_RSS

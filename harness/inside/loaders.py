"""Loading one artifact per format and calling its prediction methods (inside the child)."""

import bz2
import importlib
import inspect
import io
import lzma
import pickle
import pickletools
import re
import warnings
import zipfile
import zlib

import numpy as np

from . import isolate
from .compare import fit_shape, onnx_methods
from .compat import version_tuple
from .schema import FORMATS, TRUSTED_ROOTS

# The module each format needs, besides pickle itself; missing means the cell is n/a.
LIBRARY = {"joblib": "joblib", "joblib-z": "joblib", "cloudpickle": "cloudpickle",
           "skops": "skops.io", "onnx": "onnxruntime"}
SCAN_LIMIT = 64 << 20  # bytes of an artifact (decompressed, for joblib-z) read for its imports
_STRINGS = frozenset(("STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "SHORT_BINUNICODE",
                      "BINUNICODE", "BINUNICODE8"))
_DECOMPRESSORS = ((b"x", zlib.decompressobj), (b"BZh", bz2.BZ2Decompressor),
                  (b"\x1f\x8b", lambda: zlib.decompressobj(16 + zlib.MAX_WBITS)),
                  (b"\xfd7zXZ\x00", lzma.LZMADecompressor), (b"]\x00\x00", lzma.LZMADecompressor))
# Module names in the raw bytes: SHORT_BINUNICODE (0x8c, length) or GLOBAL ("c", newline).
_NAME_BYTES = re.compile(rb"(?:\x8c(.)|c)((?:sklearn|numpy|scipy|joblib|skops|cloudpickle)"
                         rb"(?:\.[A-Za-z_][A-Za-z0-9_]*)*)(\n?)", re.S)


def _head(path):
    """The first SCAN_LIMIT bytes of a pickle stream, decompressed by joblib's magic numbers
    (at most SCAN_LIMIT come out: a zip bomb stays small)."""
    with open(path, "rb") as fh:
        raw = fh.read(SCAN_LIMIT)
    for magic, make in _DECOMPRESSORS:
        if raw.startswith(magic):
            try:
                return make().decompress(raw, SCAN_LIMIT)
            except Exception:  # noqa: BLE001 - a corrupt stream: the child will say so
                return b""
    return raw


def pickle_modules(data):
    """Modules named by GLOBAL / STACK_GLOBAL opcodes, read with genops, never unpickled."""
    found, memo, recent = set(), {}, [None, None]
    try:
        for op, arg, _ in pickletools.genops(io.BytesIO(data)):
            name, value = op.name, None
            if name in _STRINGS:
                value = arg if isinstance(arg, str) else None
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                value = memo.get(arg)
            elif name in ("MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT"):
                memo[len(memo) if name == "MEMOIZE" else arg] = recent[1]
                continue  # stores the top of the stack, pushes nothing
            elif name == "FRAME":
                continue
            elif name in ("GLOBAL", "INST"):
                found.add(arg.split(" ")[0])
            elif name == "STACK_GLOBAL" and recent[0]:
                found.add(recent[0])  # module and name were the last two pushes
            recent = [recent[1], value]
    except Exception:  # noqa: BLE001 - joblib's raw array bytes, or a truncated file
        # Past the raw bytes genops cannot go on; the names are still there to be found.
        for m in _NAME_BYTES.finditer(data):
            size, mod, newline = m.groups()
            if (size is not None and ord(size) == len(mod)) or (size is None and newline):
                found.add(mod.decode("ascii"))
    return found


def skops_modules(path):
    """Every "__module__" in a skops file's schema.json (plain JSON, read with a size cap)."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("schema.json")
        text = zf.read(info).decode("utf-8") if info.file_size <= SCAN_LIMIT else ""
    return set(re.findall(r'"__module__":\s*"([\w.]+)"', text))


def artifact_modules(path, fmt):
    """Module names an artifact refers to, read without running it (empty when unreadable)."""
    try:
        if fmt == "skops":
            return skops_modules(path)
        if fmt == "onnx":
            return set()
        return pickle_modules(_head(path))
    except Exception:  # noqa: BLE001 - unreadable: the child reports it
        return set()


def library(fmt):
    """The imported library of a format, or None when it is not installed (or crashes here)."""
    if LIBRARY.get(fmt) in isolate.BROKEN:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return importlib.import_module(LIBRARY.get(fmt, "pickle"))
    except Exception:  # noqa: BLE001 - a broken install is as good as none
        return None


def public_class_exists(qualname):
    """True when sklearn publishes the class, e.g. sklearn.preprocessing.TargetEncoder for
    sklearn.preprocessing._target_encoder.TargetEncoder (a moved private module is no n/a)."""
    module, _, name = (qualname or "").rpartition(".")
    parts = module.split(".")
    if parts[0] != "sklearn" or len(parts) < 2:
        return True
    for i in range(2, len(parts) + 1):
        if parts[i - 1].startswith("_"):
            break
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if hasattr(importlib.import_module(".".join(parts[:i])), name):
                    return True
        except Exception:  # noqa: BLE001 - a public module missing here: look no further
            break
    return False


def not_applicable(cell):
    """Why this consumer cannot try the cell at all (missing library or class), or None."""
    fmt = cell["format"]
    if fmt not in FORMATS:
        return "format %r is unknown to this harness" % fmt
    if fmt == "pickle-p5" and pickle.HIGHEST_PROTOCOL < 5:
        return "pickle protocol 5 needs Python >= 3.8"
    if library(fmt) is None:
        broken = isolate.BROKEN.get(LIBRARY[fmt])
        return broken or "%s is not installed" % LIBRARY[fmt].split(".")[0]
    if fmt != "onnx" and not public_class_exists(cell.get("class")):
        import sklearn
        return "scikit-learn %s has no %s" % (sklearn.__version__, cell["class"].split(".")[-1])
    return None


class Refused(Exception):
    """The artifact needs types outside TRUSTED_ROOTS: it is not loaded at all."""

    def __init__(self, types):
        Exception.__init__(self, "refused to trust %s: only types of %s are trusted" % (
            ", ".join(types), ", ".join(TRUSTED_ROOTS)))
        self.types = list(types)


def outside_policy(types):
    """The types whose top-level package is not in TRUSTED_ROOTS, sorted."""
    return sorted(set(t for t in types if t.split(".")[0] not in TRUSTED_ROOTS))


def _load_skops(path, untrusted, used):
    """skops.io.load across 0.3-0.16 under the trust policy; used["untrusted"] is set to the
    trusted list passed."""
    import skops
    import skops.io as sio

    if "trusted" not in inspect.signature(sio.load).parameters:  # < 0.3: no audit, no load
        raise Refused(["every type (skops %s cannot audit a file)" % skops.__version__])
    found = _untrusted_types(sio, path)
    refused = outside_policy(found + list(untrusted or ()))
    if refused:
        raise Refused(refused)
    if untrusted is None:  # the producer could not list them: trust what this skops finds
        untrusted = found
    used["untrusted"] = untrusted = sorted(untrusted)
    if version_tuple(skops.__version__) >= (0, 10, 0):
        return sio.load(path, trusted=untrusted or None)
    # Before 0.10 a list replaced the default trusted types instead of adding to them, and
    # True trusted everything: check the extra types ourselves, then trust.
    extra = sorted(set(_untrusted_types(sio, path)) - set(untrusted))
    if extra:
        from skops.io.exceptions import UntrustedTypesFoundException
        raise UntrustedTypesFoundException(extra)
    return sio.load(path, trusted=bool(untrusted))


def _untrusted_types(sio, path):
    try:
        return list(sio.get_untrusted_types(file=path))
    except TypeError:  # skops < 0.6 took the bytes only
        with open(path, "rb") as fh:
            return list(sio.get_untrusted_types(data=fh.read()))


def _onnx_session(path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    # One thread, like the producer; errors still raise, only log chatter is muted.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    except TypeError:  # onnxruntime < 1.3 has no providers argument
        return ort.InferenceSession(path, options)


def load(fmt, path, untrusted=None, used=None):
    """One artifact's model (an InferenceSession for ONNX); raises what loading raises.
    For skops, used["untrusted"] receives the trusted list actually passed."""
    if fmt in ("pickle", "pickle-p5", "cloudpickle"):
        loader = library(fmt).load  # cloudpickle.load is pickle.load, once cloudpickle is in
        with open(path, "rb") as fh:
            return loader(fh)
    if fmt in ("joblib", "joblib-z"):
        return library(fmt).load(path)
    if fmt == "skops":
        return _load_skops(path, untrusted, {} if used is None else used)
    if fmt == "onnx":
        return _onnx_session(path)
    raise ValueError("unknown format %r" % fmt)


def _call(model, method, X):
    """('ok', output) | ('missing', detail) | ('error', exception) for one Python method."""
    try:
        present = hasattr(model, method)  # available_if checks can raise more than AttributeError
    except Exception as exc:  # noqa: BLE001
        return "error", exc
    if not present:
        return "missing", "%s has no %s here" % (type(model).__name__, method)
    try:
        return "ok", getattr(model, method)(X)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001
        return "error", exc


def _onnx_input(X, onnx_type):
    X = np.asarray(X)
    if X.ndim == 1:  # a column of values or of documents: the graph takes [N, 1]
        X = X.reshape(-1, 1)
    if "string" in onnx_type:
        return X.astype(str).astype(object)
    if "int64" in onnx_type:
        return X.astype(np.int64)
    return X.astype(np.float64 if "double" in onnx_type else np.float32)


def _onnx_predict(session, X, wanted):
    # Raises when the graph does not run: every method is then an error (the caller's).
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise ValueError("the ONNX graph has %d inputs, the harness feeds one" % len(inputs))
    names = [o.name for o in session.get_outputs()]
    values = session.run(None, {inputs[0].name: _onnx_input(X, inputs[0].type)})
    mapping = onnx_methods(names, wanted)
    out = dict((m, ("missing", "no ONNX output for this method")) for m in wanted)
    for name, value in zip(names, values):
        if name in mapping:
            method = mapping[name]
            out[method] = ("ok", fit_shape(value, wanted[method]))
    return out


def predict(model, fmt, X, wanted):
    """{method: (kind, value)} for the methods in wanted ({method: producer shape}), called in
    the order the producer called them (estimators with copy=False may change X in place)."""
    if fmt == "onnx":
        return _onnx_predict(model, X, wanted)
    return dict((m, _call(model, m, X)) for m in wanted)

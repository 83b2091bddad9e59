"""In the child: loading one artifact per format, calling its methods, and returning the raw
outputs as .npy bytes (never pickles), for a process the artifact never touched to judge."""

import base64
import importlib
import inspect
import io
import pickle
import warnings

import numpy as np

from .. import calls
from . import isolate, onnx_check
from ..compat import version_tuple
from ..schema import FORMATS, TRUSTED_ROOTS

# The module each format needs, besides pickle itself; missing means the cell is n/a.
LIBRARY = {"joblib": "joblib", "joblib-z": "joblib", "cloudpickle": "cloudpickle",
           "skops": "skops.io", "onnx": "onnxruntime"}
MAX_ARRAY = 8 << 20     # bytes of one returned output; honest ones are a few kB
MAX_MESSAGE = 500
MAX_WARNINGS = 20


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


def missing_library(fmt):
    """Why this consumer cannot try a format at all (unknown, library missing), or None."""
    if fmt not in FORMATS:
        return "format %r is unknown to this harness" % fmt
    if fmt == "pickle-p5" and pickle.HIGHEST_PROTOCOL < 5:
        return "pickle protocol 5 needs Python >= 3.8"
    if library(fmt) is None:
        broken = isolate.BROKEN.get(LIBRARY[fmt])
        return broken or "%s is not installed" % LIBRARY[fmt].split(".")[0]
    return None


def public_class_exists(qualname):
    """True when sklearn publishes the class, e.g. sklearn.preprocessing.TargetEncoder for
    sklearn.preprocessing._target_encoder.TargetEncoder (a moved private module is no n/a).
    Runs in the child: the name comes from the producer's manifest."""
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


class Refused(Exception):
    """The artifact needs what the trust policy does not allow: it is not loaded at all."""

    def __init__(self, types, why=None):
        Exception.__init__(self, why or "refused to trust %s: not among the types honest "
                           "reference dumps need" % ", ".join(types))
        self.types = list(types)


def _load_skops(path, trusted_types):
    """skops.io.load across 0.3-0.16, trusting exactly the types of trusted_types; returns
    (model, the types passed as trusted)."""
    import skops
    import skops.io as sio

    if "trusted" not in inspect.signature(sio.load).parameters:  # < 0.3: no audit, no load
        raise Refused(["every type"], "skops %s cannot audit a file" % skops.__version__)
    found = sorted(set(_untrusted_types(sio, path)))
    refused = [t for t in found if t not in trusted_types or t.split(".")[0] not in TRUSTED_ROOTS]
    if refused:
        raise Refused(refused)
    if version_tuple(skops.__version__) >= (0, 10, 0):
        return sio.load(path, trusted=found or None), found
    # Before 0.10 a list replaced the default trusted types instead of adding to them, and
    # True trusted everything: the audit above is the check, then trust.
    return sio.load(path, trusted=bool(found)), found


def _untrusted_types(sio, path):
    try:
        return list(sio.get_untrusted_types(file=path))
    except TypeError:  # skops < 0.6 took the bytes only
        with open(path, "rb") as fh:
            return list(sio.get_untrusted_types(data=fh.read()))


def _onnx_session(path):
    problems = onnx_check.problems(path)
    if problems:
        raise Refused([], "; ".join(problems)[:MAX_MESSAGE])
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


def load(fmt, path, trusted_types):
    """(model or InferenceSession, skops types trusted or None); raises what loading raises."""
    if fmt in ("pickle", "pickle-p5", "cloudpickle"):
        loader = library(fmt).load  # cloudpickle.load is pickle.load, once cloudpickle is in
        with open(path, "rb") as fh:
            return loader(fh), None
    if fmt in ("joblib", "joblib-z"):
        return library(fmt).load(path), None
    if fmt == "skops":
        return _load_skops(path, trusted_types)
    if fmt == "onnx":
        return _onnx_session(path), None
    raise ValueError("unknown format %r" % fmt)


def error_record(exc, kind=None):
    """{"type", "message"}: the exception's name and the first line of its message."""
    lines = str(exc).strip().splitlines()
    return {"type": kind or type(exc).__name__, "message": (lines[0] if lines else "")[:MAX_MESSAGE]}


def warning_records(caught, skip=()):
    """Warnings as data, without repeats; with the version a scikit-learn estimator was pickled
    with, where the warning carries it."""
    out, seen = [], set()
    for w in caught:
        category, message = w.category.__name__, str(w.message)[:MAX_MESSAGE]
        if (category, message) in seen or "%s: %s" % (category, message) in skip:
            continue
        seen.add((category, message))
        version = getattr(w.message, "original_sklearn_version", None)
        out.append({"category": category, "message": message,
                    "original_version": str(version)[:40] if version is not None else None})
    return out[:MAX_WARNINGS]


def encode(value):
    """{"npy": base64 of the .npy bytes, "sparse", "object", "type"} for one output."""
    sparse = hasattr(value, "toarray") and hasattr(value, "nnz")
    arr, was_object = calls.plain_array(value)
    if arr.nbytes > MAX_ARRAY:
        raise ValueError("output of %d bytes is over the %d the harness returns" % (arr.nbytes, MAX_ARRAY))
    buf = io.BytesIO()
    # write_array keeps the shape, a 0-d one included (ascontiguousarray would make it 1-d).
    np.lib.format.write_array(buf, arr, allow_pickle=False)
    return {"kind": "ok", "npy": base64.b64encode(buf.getvalue()).decode("ascii"),
            "sparse": bool(sparse), "object": was_object, "type": type(value).__name__[:60]}


def _onnx_input(X, onnx_type):
    X = np.asarray(X)
    if X.ndim == 1:  # a column of values or of documents: the graph takes [N, 1]
        X = X.reshape(-1, 1)
    if "string" in onnx_type:
        return X.astype(str).astype(object)
    if "int64" in onnx_type:
        return X.astype(np.int64)
    return X.astype(np.float64 if "double" in onnx_type else np.float32)


def _onnx_outputs(session, X):
    """[[graph output name, record]]: the host maps names to methods."""
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise ValueError("the ONNX graph has %d inputs, the harness feeds one" % len(inputs))
    names = [o.name for o in session.get_outputs()]
    values = session.run(None, {inputs[0].name: _onnx_input(X, inputs[0].type)})
    return [[str(name)[:100], encode(value)] for name, value in zip(names, values)]


def outputs(model, fmt, ds):
    """{"methods": {call id: record}} for every call of calls.plan the model has (a call it
    lacks is absent), or {"graph": {input: [[output name, record]]}} for ONNX."""
    if fmt == "onnx":
        graph = {}
        for name, rows in ds.inputs:
            try:
                graph[name] = _onnx_outputs(model, rows)
            except MemoryError:
                raise
            except Exception as exc:  # noqa: BLE001 - the graph did not run on this input
                graph[name] = {"kind": "error", "error": error_record(exc)}
        return {"graph": graph}
    return {"methods": calls.run(model, ds, encode,
                                 lambda exc: {"kind": "error", "error": error_record(exc)})}

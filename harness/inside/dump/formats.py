"""Writers for each format: each returns extra record fields or raises NotApplicable."""

import io
import pickle

import numpy as np

from .. import schema
from ..files import write_atomic


class NotApplicable(Exception):
    """The format cannot hold this estimator here; the message says why."""


def _version(module):
    return getattr(module, "__version__", "unknown")


def _import(name):
    # A missing optional package makes the format n/a, never a failed dump.
    try:
        return __import__(name, fromlist=["_"])
    except ImportError as exc:
        raise NotApplicable("%s is not installed (%s)" % (name.split(".")[0], exc))


def _first_line(exc, limit=300):
    # Converter messages can embed whole arrays; the first line says what went wrong, and a
    # chained exception often says why (e.g. onnx rejecting an attribute's type).
    lines = str(exc).strip().splitlines()
    text = (lines[0] if lines else "")[:limit]
    cause = exc.__cause__ or exc.__context__
    if cause is not None:
        text += " (caused by %s: %s)" % (type(cause).__name__, _first_line(cause, limit // 2))
    return text


def _pickle(est, path, ctx):
    write_atomic(path, pickle.dumps(est))
    return {"protocol": pickle.DEFAULT_PROTOCOL}


def _pickle_p5(est, path, ctx):
    if pickle.HIGHEST_PROTOCOL < 5:
        raise NotApplicable("pickle protocol 5 needs Python >= 3.8")
    write_atomic(path, pickle.dumps(est, protocol=5))
    return {"protocol": 5}


def _joblib(compress):
    def write(est, path, ctx):
        joblib = _import("joblib")
        buf = io.BytesIO()
        # A file object, not a path: joblib would otherwise guess compression from the name.
        joblib.dump(est, buf, compress=compress)
        write_atomic(path, buf.getvalue())
        return {"joblib": _version(joblib), "compress": compress}
    return write


def _cloudpickle(est, path, ctx):
    cloudpickle = _import("cloudpickle")
    write_atomic(path, cloudpickle.dumps(est))
    return {"cloudpickle": _version(cloudpickle)}


def _skops(est, path, ctx):
    sio = _import("skops.io")
    skops = _import("skops")
    buf = io.BytesIO()
    try:
        sio.dump(est, buf)
    except Exception as exc:  # noqa: BLE001
        # skops refuses types it has no safe loader for: a limit of the format, not a bug.
        if type(exc).__name__ == "UnsupportedTypeException":
            raise NotApplicable("skops %s: %s" % (_version(skops), _first_line(exc)))
        raise
    data = buf.getvalue()
    write_atomic(path, data)
    rec = {"skops": _version(skops)}
    try:
        try:
            untrusted = sio.get_untrusted_types(file=path)
        except TypeError:
            # skops < 0.6 took the bytes as `data` only.
            untrusted = sio.get_untrusted_types(data=data)
        rec["untrusted_types"] = sorted(untrusted)
    except Exception as exc:  # noqa: BLE001 - the artifact is written; record why no list
        rec["untrusted_types"] = None
        rec["untrusted_types_error"] = "%s: %s" % (type(exc).__name__, _first_line(exc))
    return rec


def _initial_types(ctx):
    dt = _import("skl2onnx.common.data_types")
    X = np.asarray(ctx["X"])
    if X.dtype.kind in "OU":
        if X.ndim == 1:  # raw documents: one string per row
            return [("X", dt.StringTensorType([None, 1]))]
        return [("X", dt.StringTensorType([None, X.shape[1]]))]
    if X.ndim == 1:
        return [("X", dt.FloatTensorType([None, 1]))]
    if X.dtype.kind in "iu":
        return [("X", dt.Int64TensorType([None, X.shape[1]]))]
    return [("X", dt.FloatTensorType([None, X.shape[1]]))]


def _default_opset(skl2onnx):
    getter = getattr(skl2onnx, "get_latest_tested_opset_version", None)
    return getter() if getter else None


def _try_convert(skl2onnx, est, types, options, target_opset, errors):
    try:
        return skl2onnx.convert_sklearn(est, initial_types=types, options=options,
                                        target_opset=target_opset)
    except Exception as exc:  # noqa: BLE001 - the converter's message is the reason
        errors.append("%s: %s" % (type(exc).__name__, _first_line(exc)))
        return None


def _onnx(est, path, ctx):
    skl2onnx = _import("skl2onnx")
    onnx = _import("onnx")
    from sklearn.base import is_classifier

    types = _initial_types(ctx)
    zipmap_off = {id(est): {"zipmap": False}} if is_classifier(est) else None
    # Plain tensors instead of a list of dicts make the consumer's comparison simpler.
    attempts = [(zipmap_off, None), (None, None)] if zipmap_off else [(None, None)]
    model, errors = None, []
    for options, target_opset in attempts:
        model = _try_convert(skl2onnx, est, types, options, target_opset, errors)
        if model is not None:
            break
    if model is None and any("target_opset" in e for e in errors):
        # Some converters emit a newer ai.onnx.ml opset than the installed onnx accepts.
        options, target_opset = zipmap_off, {"": _default_opset(skl2onnx), "ai.onnx.ml": 3}
        model = _try_convert(skl2onnx, est, types, options, target_opset, errors)
    if model is None:
        # The plain attempt's message (the last before any opset retry) is the telling one.
        raise NotApplicable("skl2onnx %s cannot convert it: %s" % (
            _version(skl2onnx), errors[len(attempts) - 1]))
    write_atomic(path, model.SerializeToString())
    return {
        "skl2onnx": _version(skl2onnx),
        "onnx": _version(onnx),
        "ir_version": int(model.ir_version),
        "opset": dict((op.domain or "ai.onnx", int(op.version)) for op in model.opset_import),
        "zipmap": False if options else None,
        "target_opset": target_opset,
        "input_types": [[name, type(t).__name__, list(t.shape)] for name, t in types],
    }


WRITERS = {
    "pickle": _pickle,
    "pickle-p5": _pickle_p5,
    "joblib": _joblib(0),
    "joblib-z": _joblib(3),
    "cloudpickle": _cloudpickle,
    "skops": _skops,
    "onnx": _onnx,
}

assert tuple(WRITERS) == schema.FORMATS, "every schema format needs a writer"

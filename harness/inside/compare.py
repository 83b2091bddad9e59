"""Comparing a consumer's outputs with the producer's, and the verdict and records of a cell."""

import os
import re
import signal

import numpy as np

from .schema import Status

# Method outcomes (the "status" of each entry of a result line's "methods").
IDENTICAL, CLOSE, MISMATCH, ERROR, MISSING = "identical", "close", "mismatch", "error", "missing"

MAX_MESSAGE = 500
MAX_WARNINGS = 20
# scikit-learn < 1.3 said it in a plain UserWarning: "... from version 0.24.2 when using ..."
_FROM_VERSION = re.compile(r"from version (\S+) when using version")

# Kinds within one group compare with each other: int64 labels against int32 are the same labels,
# but a float where the producer had an int is a change of type.
_GROUP = {"b": "bool", "i": "int", "u": "int", "f": "float", "c": "float",
          "U": "text", "S": "text", "O": "text"}


def error_record(exc, kind=None):
    """{"type", "message"}: the exception's name and the first line of its message."""
    lines = str(exc).strip().splitlines()
    return {"type": kind or type(exc).__name__, "message": (lines[0] if lines else "")[:MAX_MESSAGE]}


def warning_records(caught, skip=()):
    """Warnings as data, without repeats or the "Category: message" texts in skip; with the
    version a scikit-learn estimator was pickled with, where the warning says it."""
    out, seen = [], set()
    for w in caught:
        category, message = w.category.__name__, str(w.message)[:MAX_MESSAGE]
        if (category, message) in seen or "%s: %s" % (category, message) in skip:
            continue
        seen.add((category, message))
        version = getattr(w.message, "original_sklearn_version", None)
        match = _FROM_VERSION.search(message) if version is None else None
        out.append({"category": category, "message": message,
                    "original_version": version or (match.group(1) if match else None)})
    return out[:MAX_WARNINGS]


def decode(record):
    """The producer's {"dtype", "shape", "data"} record as an array of that dtype and shape."""
    try:
        dtype = np.dtype(record["dtype"])
    except TypeError:
        dtype = np.dtype(object)
    arr = np.array(record["data"], dtype=dtype)
    shape = tuple(record["shape"])
    return arr if arr.shape == shape else arr.reshape(shape)


def as_array(value):
    """A consumer output as a dense array (sparse matrices densified, as the producer did)."""
    if hasattr(value, "toarray") and hasattr(value, "nnz"):
        value = value.toarray()
    try:
        return np.asarray(value)
    except ValueError:  # ragged nested sequences
        return np.asarray(value, dtype=object)


def _result(status, detail="", max_abs=None, max_rel=None):
    return {"status": status, "max_abs": max_abs, "max_rel": max_rel, "detail": detail[:300]}


def _same(a, b):
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True  # NaN where the producer had NaN
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - elements that compare as arrays are not the same label
        return False


def _plain(value):
    return value.tolist() if hasattr(value, "tolist") else value  # 1, not np.int64(1)


def _exact(got, want):
    if got.dtype.kind in "biu" and want.dtype.kind in "biu":
        bad = np.asarray(got != want)
    else:
        pairs = zip(got.ravel().tolist(), want.ravel().tolist())
        bad = np.array([not _same(a, b) for a, b in pairs], dtype=bool).reshape(got.shape)
    if not bad.any():
        return _result(IDENTICAL)
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    return _result(MISMATCH, "%d of %d labels differ (first at %s: %r, producer %r)" % (
        int(bad.sum()), bad.size, list(first), _plain(got[first]), _plain(want[first])))


def _close(got, want, rtol, atol):
    kind = np.complex128 if "c" in (got.dtype.kind, want.dtype.kind) else np.float64
    g, w = got.astype(kind), want.astype(kind)
    gnan, wnan = np.isnan(g), np.isnan(w)
    if (gnan != wnan).any():
        return _result(MISMATCH, "NaN at %d place(s) where the producer had none, or the other "
                       "way round" % int((gnan != wnan).sum()))
    with np.errstate(all="ignore"):
        same = (g == w) | gnan
        if same.all():
            return _result(IDENTICAL, max_abs=0.0, max_rel=0.0)
        diff = np.where(same, 0.0, np.abs(g - w))
        # Relative differences only where the producer's value is non-zero: atol covers zeros.
        nonzero = (np.abs(w) > 0) & ~same
        max_rel = float((diff[nonzero] / np.abs(w[nonzero])).max()) if nonzero.any() else 0.0
        ok = np.isclose(g, w, rtol=rtol, atol=atol, equal_nan=True)
    max_abs = float(diff.max())
    if ok.all():
        return _result(CLOSE, "within rtol=%g, atol=%g" % (rtol, atol), max_abs, max_rel)
    first = tuple(int(i) for i in np.argwhere(~ok)[0])
    return _result(MISMATCH, "%d of %d values differ beyond rtol=%g, atol=%g (first at %s: %r, "
                   "producer %r)" % (int((~ok).sum()), ok.size, rtol, atol, list(first),
                                     _plain(got[first]), _plain(want[first])), max_abs, max_rel)


def compare(value, record, rtol, atol):
    """One method: shape, then dtype kind, then labels exactly and floats within tolerance."""
    want, got = decode(record), as_array(value)
    if got.shape != want.shape:
        return _result(MISMATCH, "shape %s, producer %s" % (list(got.shape), list(want.shape)))
    gk, wk = _GROUP.get(got.dtype.kind, got.dtype.kind), _GROUP.get(want.dtype.kind, "?")
    if gk != wk:
        return _result(MISMATCH, "dtype %s, producer %s" % (got.dtype, want.dtype))
    if gk == "float":
        return _close(got, want, rtol, atol)
    return _exact(got, want)


def onnx_methods(names, wanted):
    """Producer method for each graph output: label -> predict, probabilities -> predict_proba
    (or the decision scores skl2onnx puts there without probabilities), KMeans scores ->
    transform, outlier scores -> decision_function; a graph with no label: its output ->
    predict or transform."""
    out = {}
    labels = [n for n in names if "label" in n]
    if not labels:
        if len(names) == 1:
            out[names[0]] = "predict" if "predict" in wanted else "transform"
        return out
    out[labels[0]] = "predict"
    for name in names:
        if name in out:
            continue
        for method in ("predict_proba", "decision_function", "transform"):
            if method in wanted and method not in out.values():
                if method != "predict_proba" or name.startswith("prob"):
                    out[name] = method
                    break
    return out


def fit_shape(value, shape):
    """An ONNX output reshaped like the producer's record where only the layout differs."""
    value = np.asarray(value)
    if value.shape == tuple(shape) or len(shape) > 2:
        return value
    if value.size == int(np.prod(shape)):
        return value.reshape(shape)  # (N, 1) against (N,)
    if len(shape) == 1 and value.ndim == 2 and value.shape == (shape[0], 2):
        return value[:, 1]  # binary scores: skl2onnx gives both columns, sklearn the positive
    return value


_CELL_STATUS = {IDENTICAL: Status.IDENTICAL, CLOSE: Status.CLOSE, MISMATCH: Status.MISMATCH,
                ERROR: Status.PREDICT_ERROR, MISSING: Status.PREDICT_ERROR}


def verdict(methods, warnings, missing_counts=True):
    """(status, max_abs, max_rel) of a loaded cell from its methods and warnings.

    missing_counts=False for ONNX: a graph only has outputs for some methods (no
    predict_log_proba), so a method without an output there is no finding.
    """
    statuses = [_CELL_STATUS[m["status"]] for m in methods.values()
                if missing_counts or m["status"] != MISSING]
    if not statuses:
        return Status.IDENTICAL if not methods else Status.PREDICT_ERROR, None, None
    status = max(statuses, key=Status.ORDER.index)
    if status in (Status.IDENTICAL, Status.CLOSE) and warnings:
        status = Status.WARNING
    abs_values = [m["max_abs"] for m in methods.values() if m["max_abs"] is not None]
    rel_values = [m["max_rel"] for m in methods.values() if m["max_rel"] is not None]
    return (status, max(abs_values) if abs_values else None,
            max(rel_values) if rel_values else None)


def _log_excerpt(fd):
    # The telling lines of a dead child's stderr: faulthandler writes the fatal error, the
    # stack innermost first, then a long list of extension modules.
    size = os.fstat(fd).st_size
    text = os.pread(fd, 1 << 16, max(0, size - (1 << 16))).decode("utf-8", "replace")
    lines = [x.strip() for x in text.splitlines() if x.strip()]
    fatal = [i for i, x in enumerate(lines) if x.startswith("Fatal Python error")]
    if fatal:
        lines = [lines[fatal[-1]]] + [x for x in lines[fatal[-1]:] if x.startswith("File ")][:1]
    return " | ".join(lines[-2:])[:300]


def failure(outcome, log_fd, timeout):
    """(status, error record) of a child that gave no result: timeout or crash."""
    if outcome["timed_out"]:
        return Status.TIMEOUT, {"type": "Timeout", "message": (
            "no result within %gs; the cell's process group was killed" % timeout)}
    sig, excerpt = outcome["signal"], _log_excerpt(log_fd)
    try:
        name = signal.Signals(sig).name if sig else "Exit"
    except ValueError:
        name = "signal %d" % sig
    how = ("was killed by signal %d (%s)" % (sig, name) if sig
           else "exited with code %s without a result" % outcome["exit_code"])
    return Status.CRASH, {"type": name, "message": (
        "the child " + how + ("; stderr: " + excerpt if excerpt else ""))[:500]}

"""The verdict of a cell, decided on the host, a process no artifact touched: the child's raw
outputs (.npy bytes, read without pickle) against its own producer's recorded outputs."""

import base64
import io
import json
import re
import signal
import threading

import numpy as np

from ..inside.schema import CORE_METHODS, INPUTS, METHODS, SCHEMA_VERSION, Status, split_call
from . import record as record_mod
from .record import CellResult, ErrorRecord

# Call outcomes (the "status" of each entry of a result line's "methods").
IDENTICAL, CLOSE, MISMATCH, ERROR, MISSING = "identical", "close", "mismatch", "error", "missing"
# Recorded, and no failure: a call only one side could make (the producer's estimator had no
# such method; the producer's call raised; the loaded model lacks a method beyond the core six).
CONSUMER_ONLY, PRODUCER_ERROR, PRODUCER_ONLY = "consumer-only", "producer-error", "producer-only"
# One letter per call outcome in a line's "grid": {method: a letter per input of INPUTS}.
LETTER = {IDENTICAL: "I", CLOSE: "C", MISMATCH: "M", ERROR: "E", MISSING: "X",
          PRODUCER_ERROR: "P", CONSUMER_ONLY: "O", PRODUCER_ONLY: "Y"}
NO_CALL = "."

MAX_TEXT = 500          # characters of any message kept from a child or a producer
MAX_WARNINGS = 20
MAX_ELEMENTS = 10_000_000  # of one output, producer's or consumer's
ALLOWED_KINDS = "biufcUSO"  # dtypes an honest output has: no structured, void or datetime

# Kinds within one group compare with each other: int64 labels against int32 are the same labels,
# but a float where the producer had an int is a change of type.
_GROUP = {"b": "bool", "i": "int", "u": "int", "f": "float", "c": "float",
          "U": "text", "S": "text", "O": "text"}


class Unusable(ValueError):
    """A record from the child or the producer that cannot be judged; the message says why."""


def text(value, limit=MAX_TEXT):
    """An untrusted value as a bounded string."""
    return str(value)[:limit] if value is not None else ""


def error_of(value) -> ErrorRecord | None:
    """An untrusted {"type", "message"} as a bounded record, or None."""
    if not isinstance(value, dict):
        return None
    return {"type": text(value.get("type"), 100) or "Error", "message": text(value.get("message"))}


def warnings_of(value, skip=()):
    """Untrusted warning records as bounded ones, without the producer's own."""
    out = []
    for item in value if isinstance(value, list) else ():
        if not isinstance(item, dict) or len(out) >= MAX_WARNINGS:
            continue
        rec = {"category": text(item.get("category"), 100) or "Warning",
               "message": text(item.get("message")),
               "original_version": text(item.get("original_version"), 40) or None}
        if f"{rec['category']}: {rec['message']}" not in skip and rec not in out:
            out.append(rec)
    return out


def _dtype(name):
    try:
        dtype = np.dtype(name)
    except (TypeError, ValueError) as exc:
        raise Unusable(f"dtype {text(name, 40)!r}: {exc}") from None
    if dtype.kind not in ALLOWED_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise Unusable(f"dtype {dtype} is not one an estimator outputs")
    return dtype


def decode_producer(record):
    """The producer's {"dtype", "shape", "data"} as an array of that dtype and shape."""
    if not isinstance(record, dict) or not isinstance(record.get("shape"), list):
        raise Unusable("the producer's record has no shape")
    shape = record["shape"]
    if not all(isinstance(n, int) and 0 <= n <= MAX_ELEMENTS for n in shape) or len(shape) > 8:
        raise Unusable(f"the producer's shape {text(shape, 80)} is not one an output has")
    if int(np.prod(shape, dtype=np.float64)) > MAX_ELEMENTS:
        raise Unusable("the producer's output is too large")
    dtype = _dtype(record.get("dtype"))
    try:
        arr = np.array(record.get("data"), dtype=dtype)
    except (TypeError, ValueError, OverflowError) as exc:
        raise Unusable(f"the producer's data does not fit its dtype: {text(exc, 200)}") from None
    if arr.shape != tuple(shape):
        try:
            arr = arr.reshape(shape)
        except ValueError:
            raise Unusable(f"the producer's data has shape {list(arr.shape)}, not {shape}") from None
    return arr


class _Produced:
    """decode_producer of records the host holds anyway, once each: the host hands one parsed
    producer record to the cells of every format of an estimator and to the refits, and decoding
    it again for each was a fifth of its judging. Bounded, and safe for the load's threads."""

    SIZE = 1024  # arrays: a few estimators' worth, the cells of one estimator come together

    def __init__(self):
        self.arrays = {}  # id(record) -> (record, read-only array): the record is held, so its id stays its own
        self.lock = threading.Lock()

    def get(self, record):
        """decode_producer(record), made once while it is among the last SIZE decoded."""
        with self.lock:
            kept = self.arrays.get(id(record))
        if kept is not None and kept[0] is record:
            return kept[1]
        arr = decode_producer(record)
        arr.flags.writeable = False  # shared by every judgement of the record
        with self.lock:
            if len(self.arrays) >= self.SIZE:
                del self.arrays[next(iter(self.arrays))]  # the oldest: dicts keep insertion order
            self.arrays[id(record)] = (record, arr)
        return arr


PRODUCED = _Produced()


# The header numpy writes for a plain array in .npy format 1.0, read without literal_eval: a cell
# has about sixty outputs and parsing their headers was a fifth of the host's judging.
_NPY_HEADER = re.compile(
    rb"\{'descr': '([<>|=]?[biufcUS]\d{1,4})', 'fortran_order': (False|True), 'shape': \(((?:\d{1,9}, )*\d{0,9},?)\), \} *\n")


def _plain_npy(raw):
    """A .npy 1.0 file of a plain array as that array (a copy); None for anything else, which the
    full reader then reads or refuses."""
    if raw[:8] != b"\x93NUMPY\x01\x00" or len(raw) < 10:
        return None
    end = 10 + int.from_bytes(raw[8:10], "little")
    header = _NPY_HEADER.fullmatch(raw[10:end])
    if header is None:
        return None
    dtype = np.dtype(header.group(1).decode("ascii"))
    shape = tuple(int(n) for n in header.group(3).replace(b" ", b"").split(b",") if n)
    count = 1
    for n in shape:
        count *= n
    if count > MAX_ELEMENTS or len(raw) - end != count * dtype.itemsize:
        return None
    arr = np.frombuffer(raw, dtype=dtype, count=count, offset=end)
    if header.group(2) == b"True":
        return arr.reshape(shape[::-1]).transpose().copy(order="K")
    return arr.reshape(shape).copy()


def decode_consumer(record):
    """The child's {"npy": base64} as an array, read with allow_pickle=False."""
    if not isinstance(record, dict) or not isinstance(record.get("npy"), str):
        raise Unusable("the child's output has no .npy data")
    try:
        raw = base64.b64decode(record["npy"], validate=True)
        arr = _plain_npy(raw)
        if arr is None:
            arr = np.lib.format.read_array(io.BytesIO(raw), allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - anything malformed is the child's problem
        raise Unusable(f"the child's output is not a plain .npy array: {text(exc, 200)}") from None
    _dtype(arr.dtype.str)
    if arr.size > MAX_ELEMENTS:
        raise Unusable("the child's output is too large")
    return arr


def _result(status, detail="", max_abs=None, max_rel=None):
    # Only what a call has: a cell makes up to a hundred calls, most of them identical.
    rec = {"status": status}
    if detail:
        rec["detail"] = detail[:300]
    if max_abs is not None:
        rec["max_abs"], rec["max_rel"] = max_abs, max_rel
    return rec


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


# A float32 output carries 24 bits: two computations of it in another order differ by a few units
# of its last place, which a float64 rtol would call a mismatch.
ULPS = 8


def precision_rtol(got, want, rtol):
    """rtol, widened to ULPS units of the coarser float dtype of the two outputs."""
    eps = max(np.finfo(a.dtype).eps for a in (got, want) if a.dtype.kind in "fc")
    return max(rtol, ULPS * float(eps))


def _close(got, want, rtol, atol):
    if got.dtype == want.dtype:
        with np.errstate(all="ignore"):
            if (got == want).all():  # most calls: no NaN (NaN != NaN) and every value the same
                return _result(IDENTICAL, max_abs=0.0, max_rel=0.0)
    rtol = precision_rtol(got, want, rtol)
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


def compare(got, want, rtol, atol, sparse=None, want_sparse=None):
    """One method: shape, then dtype kind, then labels exactly and floats within tolerance; a
    change of dtype or of dense/sparse is recorded even when the values are equal."""
    if got.shape != want.shape:
        return _result(MISMATCH, "shape %s, producer %s" % (list(got.shape), list(want.shape)))
    gk, wk = _GROUP.get(got.dtype.kind, got.dtype.kind), _GROUP.get(want.dtype.kind, "?")
    if gk != wk:
        return _result(MISMATCH, "dtype %s, producer %s" % (got.dtype, want.dtype))
    rec = _close(got, want, rtol, atol) if gk == "float" else _exact(got, want)
    changes = []
    if gk != "text" and got.dtype.newbyteorder("=") != want.dtype.newbyteorder("="):
        changes.append(f"dtype {want.dtype} -> {got.dtype}")
    if sparse is not None and want_sparse is not None and bool(sparse) != bool(want_sparse):
        changes.append("sparse -> dense" if want_sparse else "dense -> sparse")
    if changes:
        rec["type_change"] = "; ".join(changes)
    return rec


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
    """(status, max_abs, max_rel) of a loaded cell from its calls and warnings: uncompared when
    no call could be compared.

    missing_counts=False for ONNX: a graph only has outputs for some methods (no
    predict_log_proba), so a method without an output there is no finding.
    """
    judged = [m for m in methods.values() if m["status"] in _CELL_STATUS]
    statuses = [_CELL_STATUS[m["status"]] for m in judged if missing_counts or m["status"] != MISSING]
    if not statuses:
        return Status.UNCOMPARED if not judged else Status.PREDICT_ERROR, None, None
    status = max(statuses, key=Status.ORDER.index)
    if status in (Status.IDENTICAL, Status.CLOSE) and warnings:
        status = Status.WARNING
    abs_values = [m["max_abs"] for m in methods.values() if m.get("max_abs") is not None]
    rel_values = [m["max_rel"] for m in methods.values() if m.get("max_rel") is not None]
    return (status, max(abs_values) if abs_values else None,
            max(rel_values) if rel_values else None)


def grid(methods):
    """{method: one letter per input of INPUTS} of a cell's calls, "." where none was made."""
    out = {}
    for call, rec in methods.items():
        method, input_name = split_call(call)
        if method in METHODS and input_name in INPUTS:
            row = out.setdefault(method, [NO_CALL] * len(INPUTS))
            row[INPUTS.index(input_name)] = LETTER.get(rec["status"], "?")
    return dict((m, "".join(out[m])) for m in METHODS if m in out)


def _order(call):
    method, input_name = split_call(call)
    return (INPUTS.index(input_name) if input_name in INPUTS else len(INPUTS),
            METHODS.index(method) if method in METHODS else len(METHODS), call)


def log_excerpt(log):
    """The telling lines of a dead child's stderr: faulthandler writes the fatal error, the
    stack innermost first, then a long list of extension modules."""
    lines = [x.strip() for x in text(log, 1 << 16).splitlines() if x.strip()]
    fatal = [i for i, x in enumerate(lines) if x.startswith("Fatal Python error")]
    if fatal:
        lines = [lines[fatal[-1]]] + [x for x in lines[fatal[-1]:] if x.startswith("File ")][:1]
    return " | ".join(lines[-2:])[:300]


def failure(outcome, log, timeout):
    """(status, error record) of a child that gave no result: timeout or crash."""
    if outcome.get("timed_out"):
        return Status.TIMEOUT, {"type": "Timeout", "message": (
            "no result within %gs; every process of the cell was killed" % timeout)}
    if outcome.get("oversize"):
        return Status.CRASH, {"type": "Oversize", "message": "the child returned more than the "
                              "harness reads from one cell; every process of the cell was killed"}
    sig, excerpt = outcome.get("signal"), log_excerpt(log)
    try:
        name = signal.Signals(sig).name if sig else "Exit"
    except ValueError:
        name = "signal %d" % sig
    how = ("was killed by signal %d (%s)" % (sig, name) if sig
           else "exited with code %s without a result" % outcome.get("exit_code"))
    return Status.CRASH, {"type": name, "message": (
        "the child " + how + ("; stderr: " + excerpt if excerpt else ""))[:MAX_TEXT]}


def _onnx_calls(child, produced):
    """{call id: consumer record} of an ONNX child: each input's graph outputs mapped to the
    producer's methods (core methods only: a graph has nothing else)."""
    graphs = child.get("graph") if isinstance(child.get("graph"), dict) else {}
    got = {}
    for input_name in INPUTS:
        graph = graphs.get(input_name)
        prefix = "" if input_name == "fixed" else "@" + input_name
        wanted = {}
        for call, rec in produced.items():
            method, name = split_call(call)
            if name == input_name and method in CORE_METHODS and isinstance(rec, dict) and "error" not in rec:
                wanted[method] = rec.get("shape")
        if isinstance(graph, dict):  # the graph did not run on this input
            got.update((m + prefix, graph) for m in wanted)
            continue
        pairs = [p for p in graph if isinstance(p, list) and len(p) == 2 and isinstance(p[0], str)] \
            if isinstance(graph, list) else []
        mapping = onnx_methods([p[0] for p in pairs], wanted)
        for name, rec in pairs:
            if name in mapping:
                got[mapping[name] + prefix] = dict(rec, onnx_output=name) if isinstance(rec, dict) else rec
    return got


class Memo:
    """One loader record's parse and decoded arrays, kept while it is judged against several
    producer records (every producer of identical bytes, the consumer's own refit)."""

    def __init__(self):
        self.child = None
        self.arrays = {}  # id(record) -> (record, array): the record is held, so its id stays its own

    def decoded(self, have):
        """decode_consumer(have), once per record; a failure is raised again each time."""
        if have is None or self.arrays.get(id(have), (None,))[0] is not have:
            self.arrays[id(have)] = (have, decode_consumer(have))
        return self.arrays[id(have)][1]


def _call(method, want, have, fmt, tol, memo):
    """The outcome of one call from the producer's record and the child's, or None when there is
    nothing to record (neither side computed it)."""
    kind = have.get("kind") if isinstance(have, dict) else None
    if want is None:
        if kind == "ok":
            return _result(CONSUMER_ONLY, "the producer's estimator had no such method")
        return None
    if "error" in want:
        if kind == "ok":
            return _result(PRODUCER_ERROR, "the producer could not compute it: "
                           + text((error_of(want["error"]) or {}).get("message"), 200))
        return None
    if kind is None:
        if fmt == "onnx":
            return _result(MISSING, "no ONNX output for this method")
        if method in CORE_METHODS:
            return _result(MISSING, "the loaded model has no such method here")
        return _result(PRODUCER_ONLY, "the loaded model has no such method here")
    if kind == "error":
        err = error_of(have.get("error")) or {"type": "Error", "message": ""}
        return _result(ERROR, f"{err['type']}: {err['message']}")
    if kind != "ok":
        return _result(ERROR, "the child returned no outcome for this call")
    try:
        value = memo.decoded(have)
        if fmt == "onnx":
            value = fit_shape(value, want.get("shape") or [])
        rec = compare(value, PRODUCED.get(want), *tol,
                      sparse=None if fmt == "onnx" else have.get("sparse"),
                      want_sparse=bool(want.get("sparse")))
    except Unusable as exc:
        return _result(MISMATCH, f"cannot compare: {exc}")
    if fmt == "onnx":
        rec.pop("type_change", None)  # a graph computes in float32 by design
    return rec


def _methods(child, expected, fmt, tol, memo):
    """{call id: outcome} over every call either side made, inputs then methods in order."""
    produced = expected.get("methods") if isinstance(expected.get("methods"), dict) else {}
    if fmt == "onnx":
        got = _onnx_calls(child, produced)
    else:
        got = child.get("methods") if isinstance(child.get("methods"), dict) else {}
    out = {}
    for call in sorted(set(produced) | set(got), key=_order):
        method, input_name = split_call(call)
        if method not in METHODS or input_name not in INPUTS:
            continue  # a name this harness never asks for: nothing to judge it against
        if fmt == "onnx" and method not in CORE_METHODS:
            continue  # a graph has outputs for the core methods only: the rest is no finding
        want = produced.get(call)
        rec = _call(method, want if isinstance(want, dict) else None, got.get(call), fmt, tol, memo)
        if rec is not None:
            out[call] = rec
    return out


def judge(cell, consumer, record, expected, tol, timeout, memo=None) -> CellResult:
    """The result line of one cell from the loader's record and its own producer's outputs (memo:
    the record's Memo when it is judged more than once)."""
    memo = memo or Memo()
    line = record_mod.blank(cell, consumer)
    outcome = record.get("outcome") if isinstance(record.get("outcome"), dict) else {}
    line["signal"] = outcome.get("signal") if isinstance(outcome.get("signal"), int) else None
    line["exit_code"] = outcome.get("exit_code") if isinstance(outcome.get("exit_code"), int) else None
    if record.get("na"):
        line["status"], line["error"] = Status.NOT_APPLICABLE, {"type": "NotApplicable", "message": text(record["na"])}
        return line
    if record.get("error"):
        line["error"] = error_of(record["error"])
        return line
    child = record.get("child")
    if not isinstance(child, str):
        line["status"], line["error"] = failure(outcome, record.get("log"), timeout)
        return line
    try:
        child = memo.child if memo.child is not None else json.loads(child)
        if not isinstance(child, dict):
            raise ValueError("not an object")
        memo.child = child
    except (ValueError, RecursionError) as exc:
        line["status"], line["error"] = Status.CRASH, {"type": "UnreadableResult", "message": text(
            f"the child's result is not a JSON object: {exc}", 300)}
        return line
    if child.get("na"):
        line["status"], line["error"] = Status.NOT_APPLICABLE, {"type": "NotApplicable", "message": text(child["na"])}
        return line
    line["warnings"] = warnings_of(child.get("warnings"))
    trusted = child.get("trusted")
    if isinstance(trusted, list):
        line["untrusted"] = [text(t, 200) for t in trusted[:200]]
    load = child.get("load")
    if load != "ok":
        status = {"refused": Status.REFUSED, "error": Status.LOAD_ERROR, "memory": Status.CRASH,
                  "predict-error": Status.PREDICT_ERROR}.get(load if isinstance(load, str) else "", Status.CRASH)
        line["status"], line["error"] = status, error_of(child.get("error")) or {
            "type": "UnreadableResult", "message": f"the child's load outcome {text(load, 40)!r} is unknown"}
        return line
    if not isinstance(expected, dict):
        line["error"] = {"type": "ProducerRecord", "message": text(expected, 300)}
        return line
    skip = {t for t in (expected.get("predict_warnings") or ()) if isinstance(t, str)}
    line["warnings"] += [w for w in warnings_of(child.get("predict_warnings"), skip) if w not in line["warnings"]]
    line["warnings"] = line["warnings"][:MAX_WARNINGS]
    line["methods"] = _methods(child, expected, cell.format, tol, memo)
    for call, rec in line["methods"].items():
        if rec["status"] == ERROR and line["error"] is None:
            kind, _, message = rec["detail"].partition(": ")
            line["error"] = {"type": kind, "message": f"{call}: {message}"}
        elif rec["status"] == MISSING and cell.format != "onnx" and line["error"] is None:
            line["error"] = {"type": "AttributeError", "message": f"{call}: {rec['detail']}"}
    line["status"], line["max_abs"], line["max_rel"] = verdict(
        line["methods"], line["warnings"], missing_counts=cell.format != "onnx")
    changes = [f"{m}: {r['type_change']}" for m, r in line["methods"].items() if r.get("type_change")]
    if changes:
        line["type_changes"] = changes
    line["grid"] = grid(line["methods"])
    diff = state_diff(expected.get("state"), child.get("state"))
    if diff:
        line["state"] = diff
    # The grid holds every call; full records stay for the fixed rows and for what is not identical.
    line["methods"] = dict((c, r) for c, r in line["methods"].items()
                           if "@" not in c or r["status"] != IDENTICAL)
    return line


MAX_STATE_NAMES = 20


def _differs(want, got):
    """What changed between two digest entries: type, dtype, shape or value, or ''."""
    for field in ("type", "dtype", "shape"):
        if want.get(field) != got.get(field):
            return "%s %s -> %s" % (field, text(want.get(field), 40), text(got.get(field), 40))
    return "value" if want.get("hash") != got.get("hash") else ""


def state_diff(want, got):
    """{"missing", "added", "changed", "counts"} between the producer's fitted-state digest and
    the loaded model's, or None when they agree (or either is absent)."""
    if not isinstance(want, dict) or not isinstance(got, dict) or not want:
        return None
    missing = sorted(k for k in want if k not in got)
    added = sorted(k for k in got if k not in want)
    changed = []
    for name in sorted(k for k in want if k in got):
        if isinstance(want[name], dict) and isinstance(got[name], dict):
            what = _differs(want[name], got[name])
            if what:
                changed.append([text(name, 120), what])
    if not (missing or added or changed):
        return None
    return {"missing": [text(k, 120) for k in missing[:MAX_STATE_NAMES]],
            "added": [text(k, 120) for k in added[:MAX_STATE_NAMES]],
            "changed": changed[:MAX_STATE_NAMES],
            "counts": {"missing": len(missing), "added": len(added), "changed": len(changed)}}


_SAFE_TASK = re.compile(r"^[a-z][a-z0-9-]{0,60}$")


def producer_record(data):
    """A producer's parsed outputs.json checked for what judging needs, or Unusable."""
    if not isinstance(data, dict) or data.get("schema") != SCHEMA_VERSION:
        raise Unusable("the producer's outputs.json is not of this harness's schema")
    if not isinstance(data.get("methods"), dict):
        raise Unusable("the producer's outputs.json has no methods")
    if not isinstance(data.get("task"), str) or not _SAFE_TASK.match(data["task"]):
        raise Unusable("the producer's outputs.json names no usable task")
    if not isinstance(data.get("input_sha256"), str) or not re.fullmatch(r"[0-9a-f]{64}", data["input_sha256"]):
        raise Unusable("the producer's outputs.json has no input hash")
    return data

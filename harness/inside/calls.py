"""Every call compared between producer and consumer: which methods on which inputs, and how
each is made, shared by the dump (the producer's record) and the load (the consumer's)."""

import inspect

import numpy as np

from .schema import ATTRIBUTES, FIXED_ONLY, METHODS, call_id

MAX_STAGES = 200  # staged_* outputs kept, so one boosted model cannot fill the record


class Missing(Exception):
    """The estimator has no such method (or it does not apply, e.g. predict without return_std)."""


def _present(est, name):
    # hasattr runs available_if checks, which may raise more than AttributeError: that
    # exception is the call's outcome, so it propagates.
    if not hasattr(est, name):
        raise Missing(name)
    return getattr(est, name)


def _takes(func, parameter):
    try:
        return parameter in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False


def _staged(est, name, X):
    stages = []
    for i, out in enumerate(_present(est, name)(X)):
        if i >= MAX_STAGES:
            break
        stages.append(np.asarray(out))
    return np.stack(stages) if stages else np.zeros((0,))


def _predict_std(est, X):
    predict = _present(est, "predict")
    if not _takes(predict, "return_std"):
        raise Missing("predict(return_std=True)")
    return predict(X, return_std=True)[1]


def _score(est, X, ds):
    if ds.X is None:
        raise Missing("score (no training data)")
    score = _present(est, "score")
    # On the training data: the prediction rows have no target. Shape (1,), since .npy writing
    # makes a 0-d array 1-d while the producer's JSON keeps it 0-d.
    return np.asarray(score(ds.X.copy()) if ds.y is None else score(ds.X.copy(), ds.y)).reshape(1)


def plain_array(value):
    """(array, was object): a dense array whose dtype .npy and JSON store without pickling, the
    same for the producer's record and the consumer's output: object arrays of text become
    unicode, of numbers numeric; anything else (None for an unknown category) its repr, flagged."""
    if hasattr(value, "toarray") and hasattr(value, "nnz"):
        value = value.toarray()
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        keys = sorted(value[0])  # ONNX ZipMap: one {class: probability} per row
        value = [[row.get(k) for k in keys] for row in value]
    try:
        arr = np.asarray(value)
    except ValueError:  # ragged nested sequences
        arr = np.asarray(value, dtype=object)
    if arr.dtype.kind != "O":
        return arr, False
    items = arr.ravel().tolist()
    if all(isinstance(v, str) for v in items):
        return np.array(items, dtype=str).reshape(arr.shape), False
    if all(isinstance(v, (bool, int, float)) for v in items):
        return np.array(items).reshape(arr.shape), False
    return np.array([repr(v)[:200] for v in items], dtype=str).reshape(arr.shape), True


def _rows_as_text(value):
    """A ragged list of arrays (CountVectorizer's inverse_transform: the terms of each row) as one
    string per row; anything else unchanged."""
    if isinstance(value, list) and value and all(hasattr(v, "tolist") for v in value):
        shapes = set(np.shape(v) for v in value)
        if len(shapes) > 1 or any(np.asarray(v).dtype.kind in "OU" for v in value):
            return np.array([" ".join(str(t) for t in np.asarray(v).ravel().tolist()) for v in value])
    return value


def make(est, method, X, ds):
    """The output of one method on input X; raises Missing when the estimator lacks it."""
    if method.startswith("staged_"):
        return _staged(est, method, X)
    if method == "predict_std":
        return _predict_std(est, X)
    if method == "inverse_transform":
        inverse = _present(est, "inverse_transform")
        return _rows_as_text(inverse(_present(est, "transform")(X)))
    if method == "kneighbors":
        return _present(est, "kneighbors")(X)[0]
    if method == "score":
        return _score(est, X, ds)
    if method in ATTRIBUTES:
        value = _present(est, method)
        if not (isinstance(value, np.ndarray) or hasattr(value, "toarray")):
            raise Missing(method)  # e.g. an int where an array is documented
        return value
    if method == "get_feature_names_out":
        return np.asarray(_present(est, method)(), dtype=str)
    return _present(est, method)(X)


def plan(ds):
    """(call id, method, input rows) of every call, inputs in schema.INPUTS order and methods in
    schema.METHODS order within each."""
    out = []
    for input_name, rows in ds.inputs:
        for method in METHODS:
            if input_name == "fixed" or method not in FIXED_ONLY:
                out.append((call_id(method, input_name), method, rows))
    return out


def run(est, ds, record, on_error):
    """{call id: record(output) | on_error(exc)} for every call the estimator has; each call
    gets its own copy of the input (estimators with copy=False change it in place)."""
    out = {}
    for call, method, rows in plan(ds):
        try:
            value = make(est, method, rows.copy(), ds)
        except Missing:
            continue
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - a call that raises is a result, not a crash
            out[call] = on_error(exc)
            continue
        try:
            out[call] = record(value)
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - an output the harness cannot encode
            out[call] = on_error(exc)
    return out

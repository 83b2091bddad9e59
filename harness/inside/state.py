"""A digest of an estimator's fitted state: each fitted attribute's type, dtype, shape and a hash
of its value, recursively into nested estimators and trees. The producer records it after
fitting, the consumer after loading; the host says which attributes are missing, added or
changed (Python >= 3.6, numpy only)."""

import hashlib

import numpy as np

MAX_ENTRIES = 300   # attributes kept per estimator, nested ones included
MAX_DEPTH = 4       # estimator inside estimator inside ...
MAX_ITEMS = 50      # members of a list of estimators (a forest's trees) looked into
# Attributes that describe the machine, not the model (KMeans' thread count).
MACHINE = ("_n_threads",)
TREE_FIELDS = ("node_count", "max_depth", "n_outputs", "n_features", "feature", "threshold",
               "children_left", "children_right", "value", "impurity", "n_node_samples",
               "missing_go_to_left")


def _hash(data):
    return hashlib.sha256(data).hexdigest()[:16]


def _array_entry(arr):
    arr = np.asarray(arr)
    entry = {"type": "ndarray", "dtype": str(arr.dtype), "shape": list(arr.shape)}
    if arr.dtype.kind == "O" or arr.dtype.fields is not None:
        entry["hash"] = _hash(repr(arr.tolist())[:1 << 20].encode("utf-8", "replace"))
    else:
        # Little-endian bytes: a big-endian consumer with the same values digests the same.
        entry["hash"] = _hash(np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes())
    return entry


def _leaf(value):
    """The entry of one non-estimator value, or None for what is not state (callables, modules)."""
    if isinstance(value, np.generic):
        # The value, not its repr: numpy 2 writes np.int64(3) where numpy 1 wrote 3.
        return {"type": type(value).__name__, "hash": _hash(repr(value.item()).encode("utf-8", "replace"))}
    if isinstance(value, (bool, int, float, str, type(None))):
        return {"type": type(value).__name__, "hash": _hash(repr(value).encode("utf-8", "replace"))}
    if isinstance(value, np.ndarray):
        return _array_entry(value)
    if hasattr(value, "toarray") and hasattr(value, "nnz"):
        entry = _array_entry(value.toarray())
        entry["type"] = type(value).__name__
        return entry
    if isinstance(value, (list, tuple)) and all(isinstance(v, (bool, int, float, str, type(None), np.generic))
                                                for v in value[:1000]):
        items = [v.item() if isinstance(v, np.generic) else v for v in list(value)[:1000]]
        return {"type": type(value).__name__, "shape": [len(value)],
                "hash": _hash(repr(items).encode("utf-8", "replace"))}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"type": "dict", "shape": [len(value)], "hash": _hash(repr(sorted(value.items(), key=lambda kv: kv[0]))
                                                                     [:1 << 16].encode("utf-8", "replace"))}
    return None


def _is_estimator(value):
    return hasattr(value, "get_params") and hasattr(value, "__dict__")


def _is_tree(value):
    return type(value).__name__ == "Tree" and hasattr(value, "node_count")


def _walk(obj, prefix, depth, out):
    if len(out) >= MAX_ENTRIES:
        return
    if _is_tree(obj):
        for name in TREE_FIELDS:
            try:
                value = getattr(obj, name)
            except Exception:  # noqa: BLE001 - a field this version's Tree lacks
                continue
            entry = _leaf(value)
            if entry is not None:
                out[prefix + name] = entry
        return
    names = sorted(vars(obj)) if hasattr(obj, "__dict__") else []
    for name in names:
        if len(out) >= MAX_ENTRIES:
            return
        if name.startswith("__") or name in MACHINE:
            continue
        try:
            value = vars(obj)[name]
        except Exception:  # noqa: BLE001
            continue
        key = prefix + name
        if depth < MAX_DEPTH and (_is_estimator(value) or _is_tree(value)):
            out[key] = {"type": type(value).__name__}
            _walk(value, key + ".", depth + 1, out)
            continue
        if depth < MAX_DEPTH and isinstance(value, (list, tuple, np.ndarray)) and len(value) and \
                any(_is_estimator(v) or _is_tree(v) or _is_estimator(_second(v)) for v in _items(value)):
            out[key] = {"type": type(value).__name__, "shape": [len(value)]}
            for i, item in enumerate(_items(value)):
                item = _second(item) if _is_estimator(_second(item)) else item
                if _is_estimator(item) or _is_tree(item):
                    out["%s[%d]" % (key, i)] = {"type": type(item).__name__}
                    _walk(item, "%s[%d]." % (key, i), depth + 1, out)
            continue
        entry = _leaf(value)
        if entry is not None:
            out[key] = entry


def _items(value):
    flat = np.asarray(value, dtype=object).ravel().tolist() if isinstance(value, np.ndarray) else list(value)
    return flat[:MAX_ITEMS]


def _second(item):
    """The estimator of a (name, estimator) step, else None."""
    if isinstance(item, tuple) and len(item) >= 2:
        return item[1]
    return None


def digest(est):
    """{attribute path: {"type", "dtype", "shape", "hash"}} of an estimator's state; {} when it
    cannot be read (a model that is no estimator, an ONNX session)."""
    out = {}
    try:
        _walk(est, "", 0, out)
    except Exception:  # noqa: BLE001 - a digest is evidence, never a reason to fail a cell
        pass
    return dict(sorted(out.items())[:MAX_ENTRIES])

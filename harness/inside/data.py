"""Fixed, seeded datasets that come out byte-identical on every Python, numpy and CPU."""

import hashlib

import numpy as np

from .schema import INPUTS

SEED = 20240604
N_TRAIN = 200
N_PRED = 60
N_FEATURES = 8
N_CATEGORICAL = 3

# Every dataset a catalogue entry can be fitted on; the hash walks them in this order.
TASKS = (
    "classification", "regression", "regression-positive", "transform", "nonneg",
    "unit", "categorical", "categorical-regression", "categorical-codes", "impute",
    "text", "isotonic", "cluster", "outlier",
) + tuple("%s-sparse" % t for t in (
    "classification", "regression", "regression-positive", "transform", "nonneg", "unit", "cluster",
    "outlier")) + ("classification-multioutput", "regression-multioutput", "classification-binary")
# The same rows as pandas DataFrames with column names, as most people fit: numeric columns, text
# categories, and both side by side (for a ColumnTransformer that selects columns by name).
FRAME_TASKS = ("classification-frame", "regression-frame", "regression-positive-frame",
               "transform-frame", "nonneg-frame", "unit-frame", "cluster-frame", "outlier-frame",
               "impute-frame", "categorical-frame", "mixed-frame")  # the last two have their own columns
TASKS = TASKS + FRAME_TASKS
NUMERIC_COLUMNS = tuple("f%d" % i for i in range(N_FEATURES))
CATEGORY_COLUMNS = ("colour_a", "colour_b", "colour_c")
MIXED_NUMERIC = NUMERIC_COLUMNS[N_CATEGORICAL:]  # the mixed frame's numeric columns

_MASK64 = (1 << 64) - 1
_COLOURS = ("red", "green", "blue", "amber")
_WORDS = (
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
    "india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa",
    "quebec", "romeo", "sierra", "tango", "uniform", "victor", "whiskey", "xray",
)


class SplitMix64(object):
    """A tiny integer PRNG: pure Python, so no library upgrade can change its stream."""

    def __init__(self, seed):
        self.state = seed & _MASK64

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & _MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        return z ^ (z >> 31)

    def randint(self, low, high):
        """An integer in [low, high]; the modulo bias is irrelevant for fixed test data."""
        return low + self.next() % (high - low + 1)


class Unavailable(Exception):
    """A dataset this environment cannot build (no pandas): the cells that need it are n/a."""


class Dataset(object):
    """Training inputs, training target (or None), the fixed prediction input and the other
    prediction inputs ((name, rows) pairs in schema.INPUTS order, "fixed" first); columns names
    the DataFrame columns of a frame task (its rows are held as arrays, framed on use)."""

    columns = None

    def __init__(self, X, y, X_pred, **variants):
        self.X, self.y, self.X_pred = X, y, X_pred
        self.inputs = [("fixed", X_pred)] + [
            (name, variants[name]) for name in INPUTS[1:] if variants.get(name) is not None]


def _rows(rng, n):
    # Integers first: every float below is one correctly rounded division of an exact
    # integer, so the bytes cannot depend on libm, SIMD width or compiler.
    return [[rng.randint(-999, 999) for _ in range(N_FEATURES)] for _ in range(n)]


def _class_of(row, noise):
    score = 3 * row[0] - 2 * row[1] + row[2] * row[3] // 1000 + noise
    return 0 if score < -600 else (1 if score < 600 else 2)


def _target_of(row, noise):
    return 3 * row[0] - 2 * row[1] + row[4] + row[2] * row[3] // 1000 + noise


def _docs(rng, labels):
    docs = []
    for label in labels:
        # Each class favours its own third of the vocabulary, so a text model can learn.
        words = []
        for _ in range(rng.randint(4, 11)):
            if rng.randint(0, 3):
                words.append(_WORDS[8 * label + rng.randint(0, 7)])
            else:
                words.append(_WORDS[rng.randint(0, len(_WORDS) - 1)])
        docs.append(" ".join(words))
    return np.array(docs, dtype=object)


def _build():
    rng = SplitMix64(SEED)
    train, pred = _rows(rng, N_TRAIN), _rows(rng, N_PRED)
    labels = [_class_of(r, rng.randint(-300, 300)) for r in train]
    target = [_target_of(r, rng.randint(-100, 100)) for r in train]
    ints, ints_pred = np.array(train, dtype=np.int64), np.array(pred, dtype=np.int64)
    X, X_pred = ints / 100.0, ints_pred / 100.0
    y_class = np.array(labels, dtype=np.int64)
    y_reg = np.array(target, dtype=np.int64) / 100.0
    y_pos = (np.array(target, dtype=np.int64) - min(target)) / 100.0

    def codes(a):
        # Bucket the first columns so categories carry signal about the targets.
        return (a[:, :N_CATEGORICAL] + 1000) * np.array([3, 4, 2]) // 2000

    colours = np.array(_COLOURS, dtype=object)
    cats, cats_pred = colours[codes(ints)], colours[codes(ints_pred)]

    def holes(a):
        a = a.copy()
        if a.ndim == 1:
            a[np.arange(a.shape[0]) % 5 == 2] = np.nan
            return a
        i, j = np.indices(a.shape)
        a[(i * 7 + j * 3) % 11 == 0] = np.nan
        return a

    def numeric(X_pred, outside):
        # Beyond the training range, holes where NaN may be accepted, one row, single precision.
        return dict(outside=outside, missing=holes(X_pred), float32=X_pred.astype(np.float32),
                    **{"single-row": X_pred[:1].copy()})

    def one_row(X_pred):
        return {"single-row": X_pred[:1].copy()}

    unseen_cats = cats_pred.copy()
    unseen_cats[::3, 0] = "violet"  # a colour no training row has
    unseen_codes = codes(ints_pred)
    unseen_codes[::3, 0] += 7
    docs = _docs(rng, labels)  # before the prediction documents: the stream's order is the data
    docs_pred = _docs(rng, [i % 3 for i in range(N_PRED)])
    unseen_docs = np.array(["zulu yankee " + d if i % 2 else "zulu yankee"
                            for i, d in enumerate(docs_pred.tolist())], dtype=object)
    X_out = ints_pred / 10.0  # ten times the training range
    nonneg_pred, unit_pred = (ints_pred + 1000) / 100.0, (ints_pred + 1000) / 2000.0
    col, col_out = X_pred[:, 0].copy(), ints_pred[:, 0] / 10.0
    d = {
        "classification": Dataset(X, y_class, X_pred, **numeric(X_pred, X_out)),
        "regression": Dataset(X, y_reg, X_pred, **numeric(X_pred, X_out)),
        "regression-positive": Dataset(X, y_pos, X_pred, **numeric(X_pred, X_out)),
        "transform": Dataset(X, y_class, X_pred, **numeric(X_pred, X_out)),
        "nonneg": Dataset((ints + 1000) / 100.0, y_class, nonneg_pred,
                          **numeric(nonneg_pred, (ints_pred + 1000) / 10.0)),
        "unit": Dataset((ints + 1000) / 2000.0, y_class, unit_pred,
                        **numeric(unit_pred, (ints_pred + 1000) / 200.0)),
        "categorical": Dataset(cats, y_class, cats_pred, unseen=unseen_cats, **one_row(cats_pred)),
        "categorical-regression": Dataset(cats, y_reg, cats_pred, unseen=unseen_cats,
                                          **one_row(cats_pred)),
        "categorical-codes": Dataset(codes(ints), y_class, codes(ints_pred), unseen=unseen_codes,
                                     **one_row(codes(ints_pred))),
        "impute": Dataset(holes(X), y_class, holes(X_pred), outside=holes(X_out),
                          float32=holes(X_pred).astype(np.float32), **one_row(holes(X_pred))),
        "text": Dataset(docs, y_class, docs_pred, unseen=unseen_docs,
                        **one_row(docs_pred)),
        "isotonic": Dataset(X[:, 0].copy(), y_reg, col, **numeric(col, col_out)),
        "cluster": Dataset(X, None, X_pred, **numeric(X_pred, X_out)),
        "outlier": Dataset(X, None, X_pred, **numeric(X_pred, X_out)),
    }
    # Multi-output targets: a second column that depends on other features than the first.
    second_class = (ints[:, 5] > 0).astype(np.int64)
    second_reg = (2 * ints[:, 5] - ints[:, 6]) / 100.0
    d["classification-multioutput"] = _with_target(d["classification"], np.stack([y_class, second_class], 1))
    d["regression-multioutput"] = _with_target(d["regression"], np.stack([y_reg, second_reg], 1))
    d["classification-binary"] = _with_target(d["classification"], (y_class > 0).astype(np.int64))
    for task in [t for t in TASKS if t.endswith("-sparse")]:
        d[task] = _sparse(d[task[:-len("-sparse")]])
    for task in FRAME_TASKS[:-2]:
        d[task] = _named(d[task[:-len("-frame")]], NUMERIC_COLUMNS)
    d["categorical-frame"] = _named(d["categorical"], CATEGORY_COLUMNS)
    d["mixed-frame"] = _mixed(d["classification"], d["categorical"])
    return d


def _named(ds, columns):
    """The same rows, to be framed with these column names."""
    out = _with_target(ds, ds.y)
    out.columns = tuple(columns)
    return out


def _mixed(numeric, categories):
    """Text categories beside the numeric columns they were bucketed from the others: object rows,
    each column given its own dtype when framed."""
    def side_by_side(cats, nums):
        return np.concatenate([cats, nums[:, N_CATEGORICAL:].astype(object)], axis=1)

    cat_inputs = dict(categories.inputs)
    out = Dataset(side_by_side(categories.X, numeric.X), numeric.y,
                  side_by_side(categories.X_pred, numeric.X_pred),
                  unseen=side_by_side(cat_inputs["unseen"], numeric.X_pred),
                  **{"single-row": side_by_side(categories.X_pred[:1], numeric.X_pred[:1])})
    out.columns = CATEGORY_COLUMNS + MIXED_NUMERIC
    return out


def _pandas():
    import pandas
    return pandas


def _framed(ds):
    """A frame task's dataset as pandas DataFrames; Unavailable where pandas does not import."""
    try:
        pd = _pandas()
    except Exception as exc:  # noqa: BLE001 - ImportError, or a pandas built for another numpy
        raise Unavailable("pandas does not import here (%s: %s)" % (
            type(exc).__name__, str(exc)[:200]))

    def frame(rows):
        # infer_objects: the mixed frame's numeric columns become float64, its text stays text.
        return pd.DataFrame(rows, columns=list(ds.columns)).infer_objects()

    return Dataset(frame(ds.X), ds.y, frame(ds.X_pred),
                   **dict((name, frame(rows)) for name, rows in ds.inputs[1:]))


def _with_target(ds, y):
    """The same rows with another target."""
    return Dataset(ds.X, y, ds.X_pred, **dict(ds.inputs[1:]))


def _sparse(ds):
    """The same rows as CSR matrices (fitted and predicted on sparse input, as text features are)."""
    from scipy import sparse
    return Dataset(sparse.csr_matrix(ds.X), ds.y, sparse.csr_matrix(ds.X_pred),
                   **dict((name, sparse.csr_matrix(rows)) for name, rows in ds.inputs[1:]))


_CACHE = {}
_FRAMES = {}


def datasets():
    """All datasets by task name (built once per process), frame tasks as their arrays."""
    if not _CACHE:
        _CACHE.update(_build())
    return _CACHE


def dataset(task):
    """The dataset an entry of this task is fitted on (DataFrames for a frame task)."""
    ds = datasets()[task]
    if ds.columns is None:
        return ds
    if task not in _FRAMES:
        _FRAMES[task] = _framed(ds)
    return _FRAMES[task]


def _array_bytes(a):
    """Canonical bytes: fixed little-endian dtype, C order, strings as UTF-8; a sparse matrix
    as its dense values, marked sparse."""
    mark = b""
    if hasattr(a, "toarray") and hasattr(a, "nnz"):
        a, mark = a.toarray(), b"csr|"
    a = np.asarray(a)
    head = mark + ("%s|%s|" % (a.dtype.kind, list(a.shape))).encode("ascii")
    if a.dtype.kind == "O" or a.dtype.kind == "U":
        return head + "\x1f".join(str(v) for v in a.ravel().tolist()).encode("utf-8")
    if a.dtype.kind == "f":
        a = np.ascontiguousarray(a, dtype="<f8")
        nan = np.isnan(a)
        # NaN payloads are platform business; hash the mask and zeros in their place.
        return head + np.where(nan, 0.0, a).astype("<f8").tobytes() + nan.tobytes()
    return head + np.ascontiguousarray(a, dtype="<i8").tobytes()


def task_hash(task):
    """sha256 of one dataset's X, y and every prediction input."""
    h = hashlib.sha256()
    ds = datasets()[task]  # a frame task's arrays and column names: the same with or without pandas
    if ds.columns is not None:
        h.update(("columns|%s|" % "\x1f".join(ds.columns)).encode("utf-8"))
    for part in (ds.X, ds.y):
        h.update(b"none" if part is None else _array_bytes(part))
    for name, rows in ds.inputs:
        h.update(name.encode("ascii") + _array_bytes(rows))
    return h.hexdigest()


def data_hash(tasks=TASKS):
    """sha256 over every dataset (or those of tasks), in TASKS order: one value names the whole input."""
    h = hashlib.sha256()
    for task in tasks:
        h.update(task.encode("ascii") + task_hash(task).encode("ascii"))
    return h.hexdigest()


class UserDataset(object):
    """A user's file checked on their own rows (or on rows made to the model's fitted shape):
    the only prediction input; no training data, so no score."""

    X = None
    y = None

    def __init__(self, rows):
        self.X_pred = rows
        self.inputs = [("fixed", rows)] if rows is not None else []


GENERATED_ROWS = 20


def rows_for(n_features, n=GENERATED_ROWS):
    """n rows of n_features columns in [-10, 10], the same bytes on every platform."""
    rng = SplitMix64(SEED)
    ints = np.array([[rng.randint(-999, 999) for _ in range(n_features)] for _ in range(n)],
                    dtype=np.int64)
    return ints / 100.0

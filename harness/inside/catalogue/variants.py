"""Each entry fitted the other ways people fit it: on sparse CSR input, with sample weights, on
a multi-output target, on a pandas DataFrame with column names. A way the estimator does not
support is n/a, with the error that says so."""

import numpy as np

from .. import schema
from .entry import Entry

WAYS = ("sparse", "weighted", "multioutput", "frame")
# The dense task an entry is fitted on -> the task of each way (weighted keeps the data).
_SPARSE = ("classification", "regression", "regression-positive", "transform", "nonneg", "unit",
           "cluster", "outlier")
_MULTI = {"classification": "classification-multioutput", "regression": "regression-multioutput",
          "regression-positive": "regression-multioutput"}
_WEIGHTED = _SPARSE + ("categorical", "categorical-regression", "categorical-codes", "impute", "text")
_FRAME = ("classification", "regression", "regression-positive", "transform", "nonneg", "unit", "cluster",
          "outlier", "impute", "categorical")
UNFIT = {"sparse": "does not fit on sparse CSR input", "weighted": "does not fit with sample_weight",
         "multioutput": "does not fit on a multi-output target",
         "frame": "does not fit on a pandas DataFrame"}
# ONNX graphs here take one dense tensor: the dense, unnamed entry covers the converter.
_NO_ONNX = {"sparse": "ONNX graphs take dense input (the dense entry covers them)",
            "frame": "ONNX graphs take one tensor here, not named columns (the array entry covers them)"}


def weights(n):
    """Fixed sample weights: 0.5, 1.0 and 1.5 in turn."""
    return (1 + np.arange(n) % 3) / 2.0


class VariantEntry(Entry):
    """An entry fitted another way; n/a where the estimator does not support that way."""

    discovered = True  # a fit that fails is the answer "not supported", not a dump failure

    def __init__(self, base, way, tasks):
        only = tuple(f for f in schema.FORMATS if f != "onnx") if way in _NO_ONNX else None
        Entry.__init__(self, "%s.%s" % (base.name, way), base.family, tasks[0], base.factory,
                       base.min_version, only_formats=only, only_reason=_NO_ONNX.get(way))
        self.tasks, self.way, self.base = tasks, way, base.name
        self.unfit = UNFIT[way]

    def fit_kwargs(self, ds):
        """The extra arguments of fit: sample weights for the weighted way."""
        return {"sample_weight": weights(ds.X.shape[0])} if self.way == "weighted" else {}

    def describe(self):
        record = Entry.describe(self)
        record.update(variant=self.way, base=self.base)
        return record


def _tasks(entry, way):
    tasks = getattr(entry, "tasks", (entry.task,))
    if way == "sparse":
        return tuple(t + "-sparse" for t in tasks if t in _SPARSE)
    if way == "multioutput":
        return tuple(sorted(set(_MULTI[t] for t in tasks if t in _MULTI)))
    if way == "frame":
        return tuple(t + "-frame" for t in tasks if t in _FRAME)
    return tuple(t for t in tasks if t in _WEIGHTED)


def variants(entries):
    """A variant of every entry for every way whose data its tasks have, in entry order."""
    out = []
    for entry in entries:
        for way in WAYS:
            tasks = _tasks(entry, way)
            if tasks:
                out.append(VariantEntry(entry, way, tasks))
    return out

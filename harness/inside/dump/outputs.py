"""Fitting one entry and recording the producer's own outputs as JSON-ready values."""

import time
import warnings

import numpy as np

from .. import calls

MAX_WARNINGS = 20
MAX_MESSAGE = 500


def error_record(exc):
    """An exception as data: its type and a bounded message."""
    return {"type": type(exc).__name__, "message": str(exc)[:MAX_MESSAGE]}


def _warning_texts(caught):
    seen = []
    for w in caught:
        text = "%s: %s" % (w.category.__name__, str(w.message)[:MAX_MESSAGE])
        if text not in seen:
            seen.append(text)
    return seen[:MAX_WARNINGS]


def encode_array(value):
    """{"dtype", "shape", "data"} for an array-like output, made plain as the consumer's is
    (calls.plain_array); sparse results are densified."""
    sparse = hasattr(value, "toarray") and hasattr(value, "nnz")
    arr, _ = calls.plain_array(value)
    record = {"dtype": str(arr.dtype), "shape": list(arr.shape), "data": arr.tolist()}
    if sparse:
        record["sparse"] = True
    return record


def fit(entry, ds):
    """Build and fit the entry's estimator; returns (estimator, seconds, warnings)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.time()
        est = entry.factory()
        kwargs = entry.fit_kwargs(ds) if hasattr(entry, "fit_kwargs") else {}
        if ds.y is None:
            est.fit(ds.X, **kwargs)
        else:
            est.fit(ds.X, ds.y, **kwargs)
        seconds = time.time() - start
    return est, seconds, _warning_texts(caught)


def predictions(est, ds):
    """({call id: encoded output or {"error"}} for every call of calls.plan the estimator has,
    the warnings those calls raised)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = calls.run(est, ds, encode_array, lambda exc: {"error": error_record(exc)})
    return out, _warning_texts(caught)


def cv_score(entry, ds):
    """Mean 3-fold cross-validation score for classifiers and regressors, else None."""
    from sklearn.base import is_classifier, is_regressor
    from sklearn.model_selection import cross_val_score

    if ds.y is None:
        return {"cv_score": None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            probe = entry.factory()
            if not (is_classifier(probe) or is_regressor(probe)):
                return {"cv_score": None}
            scores = cross_val_score(probe, ds.X, ds.y, cv=3)
        except Exception as exc:  # noqa: BLE001
            return {"cv_score": None, "cv_error": error_record(exc)}
    return {"cv_score": float(np.mean(scores)), "cv_scores": [float(s) for s in scores]}

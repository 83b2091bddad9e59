"""The loader's rehearsal before its first cell: the harness's own small models, written in each
format this consumer reads and taken through a cell's whole path (load, state digest, every call,
encoding) in the loader itself, so that every forked child inherits code that already ran once.

Under qemu a child otherwise translates again every instruction the parent never ran; natively
first-call caches are filled once. No artifact is involved: the models are fitted here, from the
harness's own data. A throwaway child runs the rehearsal first: where it imports a module of an
installed package, the loader does not rehearse, because a cell that imports that module must
still record what its import warns."""

import gc
import io
import json
import os
import pickle
import random
import sys
import sysconfig
import tempfile
import time
import warnings

from . import isolate  # loaders imports numpy: only once the loader has set its thread variables

# (estimator of a module the warm-up already imported, task it is fitted on, formats written).
# One of each kind of calls (classifier, regressor, transformer), sparse rows once, every format
# once. DataFrame rows are left out: pandas is imported only when a cell's dataset needs it.
MODELS = (
    ("LogisticRegression", "classification", ("pickle", "pickle-p5", "joblib", "joblib-z",
                                              "cloudpickle", "skops")),
    ("LogisticRegression", "classification-sparse", ("pickle",)),
    ("Ridge", "regression", ("pickle",)),
    ("StandardScaler", "transform", ("pickle",)),
)
# The harness's own package: its modules import nothing that warns about an artifact.
OWN = __name__.rsplit(".load.", 1)[0]


def _estimator(name):
    import sklearn.linear_model
    import sklearn.preprocessing
    return (getattr(sklearn.linear_model, name, None) or getattr(sklearn.preprocessing, name))()


def _write(model, fmt, path):
    """Write model in fmt as the dump does; False when this consumer cannot write it."""
    from . import loaders
    if loaders.missing_library(fmt):
        return False
    if fmt in ("pickle", "pickle-p5"):
        data = pickle.dumps(model, protocol=5 if fmt == "pickle-p5" else None)
    elif fmt == "cloudpickle":
        data = loaders.library(fmt).dumps(model)
    else:
        buf = io.BytesIO()
        if fmt == "skops":
            loaders.library(fmt).dump(model, buf)
        else:
            loaders.library(fmt).dump(model, buf, compress=3 if fmt == "joblib-z" else 0)
        data = buf.getvalue()
    with open(path, "wb") as fh:
        fh.write(data)
    return True


def _play(evaluate, trusted):
    """Fit, write and evaluate every model of MODELS in its formats; returns the cells played."""
    from .. import data
    played = 0
    with warnings.catch_warnings(), tempfile.TemporaryDirectory() as tmp:
        warnings.simplefilter("ignore")
        for name, task, formats in MODELS:
            try:
                ds = data.dataset(task)
                est = _estimator(name)
                model = est.fit(ds.X, ds.y) if ds.y is not None else est.fit(ds.X)
            except Exception:  # noqa: BLE001 - an estimator this version lacks: the next one
                continue
            cls = "%s.%s" % (type(model).__module__, type(model).__name__)
            for fmt in formats:
                path = os.path.join(tmp, "%s-%s.%s" % (name, task, fmt))
                try:
                    if _write(model, fmt, path):
                        evaluate({"format": fmt, "class": cls}, path, ds, trusted, [])
                        played += 1
                except Exception:  # noqa: BLE001 - a format this version cannot write
                    pass
    return played


def _installed(name):
    """True for a module of an installed package; False for the standard library and the harness."""
    if name == OWN or name.startswith(OWN + "."):
        return False
    path = getattr(sys.modules.get(name), "__file__", None)
    if not path:  # built in, or a namespace
        return False
    path = os.path.realpath(path)
    stdlib = tuple(os.path.realpath(sysconfig.get_paths()[k]) + os.sep for k in ("stdlib", "platstdlib"))
    return not path.startswith(stdlib) or "-packages" + os.sep in path


def _trial(evaluate, trusted, before):
    """In the throwaway child: play, then name (as JSON) the installed modules that it imported."""
    _play(evaluate, trusted)
    return json.dumps(sorted(m for m in set(sys.modules) - before if _installed(m))).encode("utf-8")


def rehearse(evaluate, trusted, timeout, memory, log_fd, whole_container):
    """Rehearse in the loader once a throwaway child has done it importing nothing new; returns
    what happened, for the loader's ready record."""
    start = time.time()
    before = set(sys.modules)
    payload, outcome = isolate.run(lambda: _trial(evaluate, trusted, before), timeout, memory, log_fd, whole_container)
    if payload is None:
        return {"done": False, "why": "its trial in a child failed: %s" % json.dumps(outcome, sort_keys=True)}
    new = json.loads(payload.decode("utf-8"))
    if new:
        return {"done": False, "why": "it would import %s" % ", ".join(new[:5])}
    states = random.getstate(), _numpy_state()
    try:
        played = _play(evaluate, trusted)
    finally:
        random.setstate(states[0])
        if states[1] is not None:
            import numpy as np
            np.random.set_state(states[1])
    gc.collect()
    return {"done": True, "cells": played, "seconds": round(time.time() - start, 2)}


def _numpy_state():
    # evaluate never draws from numpy's global generator, but a cell must find it as it was.
    try:
        import numpy as np
        return np.random.get_state()
    except Exception:  # noqa: BLE001 - no numpy: nothing to keep
        return None

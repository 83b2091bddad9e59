"""Version checks and parameter spellings that differ between scikit-learn releases."""

import importlib
import inspect
import re

import sklearn


def version_tuple(text):
    """(major, minor, micro) from a version string such as '1.6.1', '1.5.0rc1' or '1.7.dev0'."""
    parts = []
    for piece in str(text).split(".")[:3]:
        m = re.match(r"\d+", piece)
        parts.append(int(m.group(0)) if m else 0)
    return tuple(parts + [0] * (3 - len(parts)))


SKLEARN = version_tuple(sklearn.__version__)


def at_least(text):
    """True when the installed scikit-learn is at least this version."""
    return SKLEARN >= version_tuple(text)


def settle_warn_defaults(cls, **values):
    """Those of the given keywords whose default in this release is the 'warn' sentinel that
    scikit-learn uses while a default is changing: passing them silences the FutureWarning
    where it exists and leaves older releases (which may reject the value) untouched."""
    params = inspect.signature(cls.__init__).parameters
    out = {}
    for key, value in values.items():
        default = params[key].default if key in params else None
        if isinstance(default, str) and default == "warn":
            out[key] = value
    return out


def inner(est):
    """Keyword for a meta-estimator's sub-estimator: base_estimator became estimator in 1.2
    (and base_estimator was removed in 1.4), so passing the right one avoids a FutureWarning."""
    return {"estimator": est} if at_least("1.2") else {"base_estimator": est}


def sgd_log_loss():
    """SGD's logistic loss: 'log' was renamed 'log_loss' in 1.1 and removed in 1.3."""
    return "log_loss" if at_least("1.1") else "log"


def dense_onehot():
    """OneHotEncoder's dense switch: 'sparse' became 'sparse_output' in 1.2 (removed in 1.4)."""
    return {"sparse_output": False} if at_least("1.2") else {"sparse": False}


def adaboost_samme():
    """AdaBoostClassifier: 'SAMME.R' (the default) was deprecated in 1.4 with a warning, and
    the algorithm parameter itself in 1.6, so say 'SAMME' only where the parameter exists."""
    return {} if at_least("1.6") else {"algorithm": "SAMME"}


def kbins_quantile():
    """KBinsDiscretizer(strategy='quantile'): 1.1-1.2 warn unless subsample is given, 1.7-1.8
    warn unless quantile_method is given; pick the values the warnings announce."""
    kw = {}
    if at_least("1.1") and not at_least("1.3"):
        kw["subsample"] = None
    if at_least("1.7"):
        kw["quantile_method"] = "averaged_inverted_cdf"
    return kw


def fastica_whiten():
    """FastICA: 1.1 warns unless whiten is a string; before 1.1 only True/False exist."""
    return "unit-variance" if at_least("1.1") else True


def quantile_solver():
    """QuantileRegressor: 'interior-point' (the default before 1.4) is gone from recent SciPy,
    and 1.1-1.3 warn when the solver is left unset."""
    import scipy

    # 'highs' needs SciPy >= 1.6; older SciPy only has 'interior-point'.
    has_highs = version_tuple(scipy.__version__) >= (1, 6, 0)
    return {"solver": "highs" if has_highs else "interior-point"}


def enable_experimental(name):
    """Import an experimental enabler where the release still needs it."""
    if name == "hist_gradient_boosting":
        # HistGradientBoosting* left experimental in 1.0; the enabler only warns afterwards.
        if not at_least("1.0"):
            importlib.import_module("sklearn.experimental.enable_hist_gradient_boosting")
    elif name == "iterative_imputer":
        importlib.import_module("sklearn.experimental.enable_iterative_imputer")

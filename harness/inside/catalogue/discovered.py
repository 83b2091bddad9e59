"""Every estimator the producer's scikit-learn ships (sklearn.utils.all_estimators) that the
hand-written catalogue does not cover, built with small parameters that fit quickly on the
fixed data; a class that cannot be covered is listed with its reason."""

import inspect
import warnings

from .entry import Entry
from ..schema import FAMILIES

# sklearn sub-package -> catalogue family.
FAMILY = {"linear_model": "linear", "discriminant_analysis": "linear", "svm": "svm", "tree": "tree",
          "ensemble": "ensemble", "neighbors": "neighbors", "naive_bayes": "naive_bayes",
          "cluster": "cluster", "decomposition": "decomposition", "preprocessing": "preprocessing",
          "impute": "impute", "neural_network": "neural_network", "gaussian_process": "gaussian_process",
          "calibration": "calibration", "isotonic": "isotonic", "compose": "compose"}
# Classes whose input is of a kind the fixed datasets do not have.
NOT_COVERED = {
    "DictVectorizer": "fits on dicts of features, which no fixed dataset holds",
    "FeatureHasher": "fits on dicts or pairs of features, which no fixed dataset holds",
    "HashingVectorizer": "stateless: fit learns nothing to persist",
    "LabelBinarizer": "fits on targets, not on features",
    "LabelEncoder": "fits on targets, not on features",
    "MultiLabelBinarizer": "fits on sets of labels, not on features",
    "PatchExtractor": "fits on images",
    "TfidfTransformer": "fits on term counts (covered through the text pipelines)",
    "SparseCoder": "takes a fixed dictionary, learns nothing",
}
# Estimators that only fit a multi-output target (meta-estimators, multi-task linear models, the
# cross-decompositions, whose n_components is bounded by the target's columns) or a binary one
# (threshold classifiers): their tasks.
MULTI_OUTPUT = {"ClassifierChain": ("classification-multioutput",),
                "MultiOutputClassifier": ("classification-multioutput",),
                "MultiOutputRegressor": ("regression-multioutput",),
                "RegressorChain": ("regression-multioutput",),
                "MultiTaskElasticNet": ("regression-multioutput",),
                "MultiTaskElasticNetCV": ("regression-multioutput",),
                "MultiTaskLasso": ("regression-multioutput",),
                "MultiTaskLassoCV": ("regression-multioutput",),
                "CCA": ("regression-multioutput",),
                "PLSCanonical": ("regression-multioutput",),
                "PLSSVD": ("regression-multioutput",),
                "FixedThresholdClassifier": ("classification-binary",),
                "TunedThresholdClassifierCV": ("classification-binary",)}
# Parameters that keep a fit on the fixed data within a second (DictionaryLearning's defaults
# take minutes).
QUICK = {"DictionaryLearning": {"n_components": 4, "max_iter": 50},
         "MiniBatchDictionaryLearning": {"n_components": 4},
         "SparsePCA": {"n_components": 3}, "MiniBatchSparsePCA": {"n_components": 3},
         "SpectralClustering": {"n_clusters": 3}, "TSNE": {"perplexity": 10.0},
         # "auto" asks for thousands of components on 200 rows; k=10 is more than 8 columns
         "GaussianRandomProjection": {"n_components": 4}, "SparseRandomProjection": {"n_components": 4},
         "SelectKBest": {"k": 4}}
# Inner estimators with a default of None that the class still requires (1.6+).
REQUIRED_ANYWAY = {"SelfTrainingClassifier": ("estimator",)}
# Tasks to try, in order, by kind of estimator.
TASKS_BY_KIND = {"classifier": ("classification", "nonneg", "categorical-codes"),
                 "regressor": ("regression", "regression-positive"),
                 "cluster": ("cluster",), "outlier": ("outlier",),
                 "transformer": ("transform", "nonneg", "unit")}


def _small_classifier():
    from sklearn.linear_model import LogisticRegression
    return LogisticRegression(max_iter=5000, random_state=0)


def _small_regressor():
    from sklearn.linear_model import Ridge
    return Ridge()


def _small(kind):
    return _small_classifier() if kind == "classifier" else _small_regressor()


def _grid(kind):
    return {"C": [0.5, 1.0]} if kind == "classifier" else {"alpha": [0.5, 1.0]}


def _pair(kind):
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
    tree = DecisionTreeClassifier if kind == "classifier" else DecisionTreeRegressor
    return [("small", _small(kind)), ("tree", tree(max_depth=3, random_state=0))]


def _required(kind, name):
    """A value for a required constructor parameter, or raise KeyError."""
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler
    inner = "classifier" if kind in ("classifier", "transformer", "outlier", "cluster") else kind
    values = {
        "estimator": lambda: _small(inner),
        "base_estimator": lambda: _small(inner),
        "estimators": lambda: _pair(inner),
        "steps": lambda: [("scale", StandardScaler()), ("model", _small(inner))],
        "transformers": lambda: [("scale", StandardScaler(), [0, 1, 2]), ("keep", "passthrough", [3, 4, 5, 6, 7])],
        "transformer_list": lambda: [("pca", PCA(n_components=2)), ("scale", StandardScaler())],
        "param_grid": lambda: _grid(inner),
        "param_distributions": lambda: _grid(inner),
    }
    return values[name]()


def _kind(cls):
    from sklearn import base
    if issubclass(cls, base.ClassifierMixin):
        return "classifier"
    if issubclass(cls, base.RegressorMixin):
        return "regressor"
    if issubclass(cls, base.ClusterMixin):
        return "cluster"
    if getattr(cls, "_estimator_type", None) == "outlier_detector" or hasattr(base, "OutlierMixin") and \
            issubclass(cls, base.OutlierMixin):
        return "outlier"
    return "transformer"


def _factory(cls, kind):
    """A factory for cls with every required parameter given and small iteration counts; raise
    KeyError naming a required parameter the harness cannot fill."""
    params = inspect.signature(cls.__init__).parameters
    kwargs = {}
    for name, p in params.items():
        if name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if p.default is p.empty:
            kwargs[name] = None  # filled at build time: fresh objects for every factory call
        elif name == "random_state":
            kwargs[name] = 0
    for name in REQUIRED_ANYWAY.get(cls.__name__, ()):
        if name in params and params[name].default is None:
            kwargs[name] = None
    for name in [n for n, v in kwargs.items() if v is None]:
        _required(kind, name)  # KeyError now, not at dump time
    if "cv" in params:
        kwargs["cv"] = 3  # searches and cross-validated estimators: three folds keep them quick
    kwargs.update((k, v) for k, v in QUICK.get(cls.__name__, {}).items() if k in params)

    def make():
        built = dict((n, _required(kind, n) if v is None else v) for n, v in kwargs.items())
        if cls.__name__ == "FrozenEstimator":
            from ..data import dataset
            ds = dataset("classification")
            built["estimator"] = _small_classifier().fit(ds.X, ds.y)
        return cls(**built)
    return make


def _family(cls):
    parts = cls.__module__.split(".")
    sub = parts[1].lstrip("_") if len(parts) > 1 else ""
    family = FAMILY.get(sub, sub)
    return family if family in FAMILIES else "other"


def discover(covered_classes):
    """(entries, coverage): an entry per class of all_estimators() not in covered_classes (names),
    and {class name: "covered" | "discovered" | reason} for every class scikit-learn lists."""
    from sklearn.utils import all_estimators
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        listed = all_estimators()
    entries, coverage = [], {}
    for name, cls in sorted(listed):
        if name in covered_classes:
            coverage[name] = "covered"
            continue
        if name in NOT_COVERED:
            coverage[name] = NOT_COVERED[name]
            continue
        kind = _kind(cls)
        try:
            factory = _factory(cls, kind)
        except KeyError as exc:
            coverage[name] = "needs a value for %s the harness does not make" % exc
            continue
        except (TypeError, ValueError) as exc:
            coverage[name] = "its constructor cannot be read: %s" % exc
            continue
        tasks = MULTI_OUTPUT.get(name) or TASKS_BY_KIND[kind]
        entries.append(DiscoveredEntry(name, _family(cls), tasks, factory))
        coverage[name] = "discovered"
    return entries, coverage


class DiscoveredEntry(Entry):
    """An entry found by all_estimators(): fitted on the first of its tasks that works."""

    discovered = True

    def __init__(self, name, family, tasks, factory):
        Entry.__init__(self, name, family, tasks[0], factory)
        self.tasks = tasks

    def describe(self):
        record = Entry.describe(self)
        record["discovered"] = True
        return record

"""The record schema shared by the host and every environment (Python >= 3.6 syntax, stdlib only)."""

# Bump when the layout or meaning of any JSON record below changes; readers refuse other numbers.
SCHEMA_VERSION = 1

# Persistence formats, in the order the report shows them.
FORMATS = (
    "pickle",        # pickle.dumps with the Python's default protocol
    "pickle-p5",     # pickle protocol 5
    "joblib",        # joblib.dump, uncompressed
    "joblib-z",      # joblib.dump(compress=3)
    "cloudpickle",
    "skops",
    "onnx",
)

FORMAT_SUFFIX = {
    "pickle": ".pkl",
    "pickle-p5": ".p5.pkl",
    "joblib": ".joblib",
    "joblib-z": ".z.joblib",
    "cloudpickle": ".cloudpickle.pkl",
    "skops": ".skops",
    "onnx": ".onnx",
}

# Prediction methods compared between producer and consumer, in a fixed order.
METHODS = (
    "predict",
    "predict_proba",
    "predict_log_proba",
    "decision_function",
    "transform",
    "score_samples",
)


# Families of the reference catalogue, in the order the report groups them.
FAMILIES = (
    "linear", "svm", "tree", "ensemble", "neighbors", "naive_bayes", "cluster",
    "decomposition", "preprocessing", "impute", "text", "neural_network",
    "gaussian_process", "calibration", "isotonic", "compose", "outlier",
)

# Outcome of dumping one estimator or one format (the "status" field of manifest.json).
DUMP_OK = "ok"
DUMP_ERROR = "error"
DUMP_NOT_APPLICABLE = "n/a"


class Status(object):
    """Outcome of one load cell, best first; plain strings so JSON stays readable."""

    IDENTICAL = "identical"
    CLOSE = "close"
    WARNING = "warning"
    MISMATCH = "mismatch"
    PREDICT_ERROR = "predict-error"
    LOAD_ERROR = "load-error"
    REFUSED = "refused"  # the artifact names code outside the trust policy: never run
    CRASH = "crash"
    TIMEOUT = "timeout"
    NOT_APPLICABLE = "n/a"

    ORDER = (
        IDENTICAL, CLOSE, WARNING, MISMATCH, PREDICT_ERROR,
        LOAD_ERROR, REFUSED, CRASH, TIMEOUT, NOT_APPLICABLE,
    )


# The only packages whose types a consumer trusts when skops asks: the stack under test.
# Anything else an artifact names (builtins.eval, posix.system) is refused unloaded, whatever
# the producer's manifest claims, since that manifest travels with the artifact.
TRUSTED_ROOTS = ("sklearn", "numpy", "scipy")


def rank(status):
    """Position of a status from best (0) to worst."""
    return Status.ORDER.index(status)


def worst(statuses):
    """The worst of several statuses (n/a only when nothing else is present)."""
    real = [s for s in statuses if s != Status.NOT_APPLICABLE]
    if not real:
        return Status.NOT_APPLICABLE
    return max(real, key=rank)


class SchemaMismatch(ValueError):
    """A JSON record written under another schema number."""


def check_schema(record, where):
    """Raise SchemaMismatch unless the record carries this SCHEMA_VERSION."""
    found = record.get("schema") if isinstance(record, dict) else None
    if found != SCHEMA_VERSION:
        raise SchemaMismatch(
            "%s has schema %r, this harness reads schema %d" % (where, found, SCHEMA_VERSION)
        )

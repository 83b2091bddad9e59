"""The record schema shared by the host and every environment (Python >= 3.6 syntax, stdlib only)."""

# Bump when the layout or meaning of any JSON record below changes; readers refuse other numbers.
SCHEMA_VERSION = 2
PYTHON_FLOOR = (3, 6)  # the oldest Python the inside code runs on; tests run it there (tests/conftest.py)

# One cell's limits: the host passes them to the loader, whose options default to the same.
CELL_TIMEOUT = 60          # seconds of a native cell (stages/load.py gives emulated ones more)
CELL_MEMORY = 2 << 30      # bytes of address space of each cell's child

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

# The six prediction methods every comparison started with: one the producer had and the
# loaded model lacks fails the cell (predict-error).
CORE_METHODS = (
    "predict",
    "predict_proba",
    "predict_log_proba",
    "decision_function",
    "transform",
    "score_samples",
)

# Every call compared between producer and consumer, in a fixed order: each returns output
# without refitting (calls.py says how each is made). One the loaded model lacks is recorded
# as producer-only and does not fail the cell.
METHODS = CORE_METHODS + (
    "predict_joint_log_proba",
    "predict_std",               # predict(X, return_std=True)[1]
    "inverse_transform",         # inverse_transform(transform(X)): a round trip
    "kneighbors",                # the distances of kneighbors(X)
    "apply",
    "staged_predict",
    "staged_predict_proba",
    "staged_decision_function",
    "score",                     # score on the training data (the prediction rows have no target)
    "get_feature_names_out",
) + (
    # Fitted attributes, compared for estimators without prediction methods (clustering without
    # predict, manifold learners, covariance estimators) and for every other that has them.
    "labels_", "embedding_", "covariance_", "precision_", "location_", "cluster_centers_",
    "components_", "means_", "weights_",
    # biclustering (SpectralBiclustering, SpectralCoclustering): which rows and columns each
    # bicluster holds
    "rows_", "columns_", "row_labels_", "column_labels_",
)
ATTRIBUTES = METHODS[METHODS.index("labels_"):]

# Prediction inputs, in a fixed order: the fixed rows, then inputs that take other code paths
# (data.inputs builds them per task; a task has only those that make sense for it).
INPUTS = ("fixed", "outside", "missing", "unseen", "single-row", "float32")

# Calls made on the fixed rows only: their output is large, or takes no prediction rows.
FIXED_ONLY = ("staged_predict", "staged_predict_proba", "staged_decision_function", "score",
              "get_feature_names_out") + ATTRIBUTES


def call_id(method, input_name):
    """The name of one call: the method alone on the fixed rows, method@input otherwise."""
    return method if input_name == "fixed" else "%s@%s" % (method, input_name)


def split_call(call):
    """(method, input) of a call id."""
    method, _, input_name = call.partition("@")
    return method, input_name or "fixed"


# Families of the reference catalogue, in the order the report groups them.
FAMILIES = (
    "linear", "svm", "tree", "ensemble", "neighbors", "naive_bayes", "cluster",
    "decomposition", "preprocessing", "impute", "text", "neural_network",
    "gaussian_process", "calibration", "isotonic", "compose", "outlier",
    # Found by all_estimators() beyond the hand-written catalogue.
    "mixture", "feature_selection", "model_selection", "multiclass", "multioutput",
    "semi_supervised", "cross_decomposition", "kernel_approximation", "covariance", "manifold",
    "dummy", "kernel_ridge", "random_projection", "pipeline", "feature_extraction", "frozen", "other",
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
    UNCOMPARED = "uncompared"  # loaded, but no output of either side could be compared
    MISMATCH = "mismatch"
    PREDICT_ERROR = "predict-error"
    LOAD_ERROR = "load-error"
    REFUSED = "refused"  # the artifact names code outside the trust policy: never run
    CRASH = "crash"
    TIMEOUT = "timeout"
    NOT_APPLICABLE = "n/a"

    ORDER = (
        IDENTICAL, CLOSE, WARNING, UNCOMPARED, MISMATCH, PREDICT_ERROR,
        LOAD_ERROR, REFUSED, CRASH, TIMEOUT, NOT_APPLICABLE,
    )


# The only packages whose types a consumer trusts when skops asks: the stack under test.
# Anything else an artifact names (builtins.eval, posix.system) is refused unloaded, whatever
# the producer's manifest claims, since that manifest travels with the artifact.
TRUSTED_ROOTS = ("sklearn", "numpy", "scipy")


def rank(status):
    """Position of a status from best (0) to worst."""
    return Status.ORDER.index(status)


class SchemaMismatch(ValueError):
    """A JSON record written under another schema number."""


def check_schema(record, where):
    """Raise SchemaMismatch unless the record carries this SCHEMA_VERSION."""
    found = record.get("schema") if isinstance(record, dict) else None
    if found != SCHEMA_VERSION:
        raise SchemaMismatch(
            "%s has schema %r, this harness reads schema %d" % (where, found, SCHEMA_VERSION)
        )

"""Catalogue entries for transformers, clustering, imputers, text, composition and outliers."""

import numpy as np
from sklearn import (
    cluster, compose, covariance, decomposition, impute, linear_model, pipeline, preprocessing,
)
from sklearn.feature_extraction import text

from .. import compat, schema
from .entry import Entry as E


def _iterative_imputer():
    compat.enable_experimental("iterative_imputer")
    # max_iter/tol let it converge on the fixed data instead of warning at fit time.
    return impute.IterativeImputer(max_iter=30, tol=1e-2, random_state=0)


def _pipeline():
    return pipeline.Pipeline([
        ("scale", preprocessing.StandardScaler()),
        ("pca", decomposition.PCA(n_components=5, random_state=0)),
        ("clf", linear_model.LogisticRegression(max_iter=5000, random_state=0)),
    ])


def _column_transformer():
    # No remainder: 1.7+ warns about remainder column types when one is used.
    return compose.ColumnTransformer([
        ("scale", preprocessing.StandardScaler(), [0, 1, 2, 3]),
        ("bins", preprocessing.KBinsDiscretizer(n_bins=3, encode="onehot-dense",
                                                strategy="uniform"), [4, 5]),
        ("minmax", preprocessing.MinMaxScaler(), [6, 7]),
    ])


def _columns_by_name():
    # Columns picked by their names in a DataFrame, text categories one-hot encoded beside them.
    from ..data import CATEGORY_COLUMNS, MIXED_NUMERIC
    return compose.ColumnTransformer([
        ("scale", preprocessing.StandardScaler(), list(MIXED_NUMERIC)),
        ("onehot", preprocessing.OneHotEncoder(handle_unknown="ignore", **compat.dense_onehot()),
         list(CATEGORY_COLUMNS)),
    ])


def _frame_pipeline():
    return pipeline.Pipeline([
        ("columns", _columns_by_name()),
        ("clf", linear_model.LogisticRegression(max_iter=5000, random_state=0)),
    ])


NOT_ONNX = tuple(f for f in schema.FORMATS if f != "onnx")
_NAMED_COLUMNS = "ONNX graphs take one tensor here, not named columns"


def _text_pipeline():
    return pipeline.Pipeline([
        ("tfidf", text.TfidfVectorizer()),
        ("clf", linear_model.LogisticRegression(max_iter=5000, random_state=0)),
    ])


def _target_encoder():
    # TargetEncoder exists only from 1.3; the import is deferred so older releases skip it.
    return preprocessing.TargetEncoder(random_state=0)


def _lambda_transformer():
    # A lambda is the classic object that only cloudpickle can serialize (by value).
    return preprocessing.FunctionTransformer(lambda X: X * 2.0 + 1.0)


_CLOUDPICKLE_ONLY = "holds a lambda: only cloudpickle serializes functions by value"

ENTRIES = [
    # clustering with predict; n_init and batch_size are explicit because their defaults
    # changed (1.2-1.3 warn when n_init is unset).
    E("KMeans", "cluster", "cluster",
      lambda: cluster.KMeans(n_clusters=3, n_init=10, random_state=0)),
    E("MiniBatchKMeans", "cluster", "cluster",
      lambda: cluster.MiniBatchKMeans(n_clusters=3, n_init=3, batch_size=100, random_state=0)),
    E("Birch", "cluster", "cluster", lambda: cluster.Birch(n_clusters=3)),
    # decomposition; NMF's init is explicit because 1.0 warns about its default changing.
    E("PCA", "decomposition", "transform",
      lambda: decomposition.PCA(n_components=4, random_state=0)),
    E("IncrementalPCA", "decomposition", "transform",
      lambda: decomposition.IncrementalPCA(n_components=4)),
    E("TruncatedSVD", "decomposition", "transform",
      lambda: decomposition.TruncatedSVD(n_components=4, random_state=0)),
    E("NMF", "decomposition", "nonneg",
      lambda: decomposition.NMF(n_components=3, init="nndsvda", max_iter=2000, random_state=0)),
    E("FastICA", "decomposition", "transform",
      lambda: decomposition.FastICA(n_components=4, whiten=compat.fastica_whiten(),
                                    max_iter=2000, random_state=0)),
    E("KernelPCA", "decomposition", "transform",
      lambda: decomposition.KernelPCA(n_components=4, kernel="rbf", random_state=0)),
    # preprocessing
    E("StandardScaler", "preprocessing", "transform", lambda: preprocessing.StandardScaler()),
    E("MinMaxScaler", "preprocessing", "transform", lambda: preprocessing.MinMaxScaler()),
    E("RobustScaler", "preprocessing", "transform", lambda: preprocessing.RobustScaler()),
    E("MaxAbsScaler", "preprocessing", "transform", lambda: preprocessing.MaxAbsScaler()),
    E("Normalizer", "preprocessing", "transform", lambda: preprocessing.Normalizer()),
    E("PowerTransformer", "preprocessing", "transform",
      lambda: preprocessing.PowerTransformer()),
    # n_quantiles below the 200 training rows (the default 1000 warns at fit time) and small,
    # because skl2onnx's conversion time grows with its square (100 quantiles: 11 s).
    E("QuantileTransformer", "preprocessing", "transform",
      lambda: preprocessing.QuantileTransformer(n_quantiles=20, random_state=0)),
    E("PolynomialFeatures", "preprocessing", "transform",
      lambda: preprocessing.PolynomialFeatures(degree=2)),
    E("SplineTransformer", "preprocessing", "transform",
      lambda: preprocessing.SplineTransformer(n_knots=4, degree=3), "1.0"),
    E("KBinsDiscretizer", "preprocessing", "transform",
      lambda: preprocessing.KBinsDiscretizer(n_bins=4, encode="ordinal", strategy="quantile",
                                             **compat.kbins_quantile())),
    E("OneHotEncoder", "preprocessing", "categorical",
      lambda: preprocessing.OneHotEncoder(handle_unknown="ignore", **compat.dense_onehot())),
    E("OrdinalEncoder", "preprocessing", "categorical",
      lambda: preprocessing.OrdinalEncoder(handle_unknown="use_encoded_value",
                                           unknown_value=-1)),
    # Continuous target: 1.3 TargetEncoder handles only binary and continuous targets.
    E("TargetEncoder", "preprocessing", "categorical-regression", _target_encoder, "1.3"),
    E("FunctionTransformer-numpy", "preprocessing", "nonneg",
      lambda: preprocessing.FunctionTransformer(np.log1p)),
    E("FunctionTransformer-lambda", "preprocessing", "transform", _lambda_transformer,
      only_formats=("cloudpickle",), only_reason=_CLOUDPICKLE_ONLY),
    # imputers
    E("SimpleImputer", "impute", "impute", lambda: impute.SimpleImputer(strategy="median")),
    E("KNNImputer", "impute", "impute", lambda: impute.KNNImputer(n_neighbors=5)),
    E("IterativeImputer", "impute", "impute", _iterative_imputer),
    E("MissingIndicator", "impute", "impute", lambda: impute.MissingIndicator()),
    # text
    E("TfidfVectorizer", "text", "text", lambda: text.TfidfVectorizer()),
    E("CountVectorizer", "text", "text", lambda: text.CountVectorizer(ngram_range=(1, 2))),
    E("HashingVectorizer", "text", "text", lambda: text.HashingVectorizer(n_features=64)),
    E("Pipeline-Tfidf-LogisticRegression", "text", "text", _text_pipeline),
    # composition
    E("Pipeline", "compose", "classification", _pipeline),
    E("ColumnTransformer", "compose", "transform", _column_transformer),
    # fitted on a pandas DataFrame: columns chosen by name, text categories beside numbers
    E("ColumnTransformer-names", "compose", "mixed-frame", _columns_by_name,
      only_formats=NOT_ONNX, only_reason=_NAMED_COLUMNS),
    E("Pipeline-ColumnTransformer-names-LogisticRegression", "compose", "mixed-frame",
      _frame_pipeline, only_formats=NOT_ONNX, only_reason=_NAMED_COLUMNS),
    E("TransformedTargetRegressor", "compose", "regression",
      lambda: compose.TransformedTargetRegressor(
          regressor=linear_model.Ridge(), transformer=preprocessing.StandardScaler())),
    # outliers
    E("EllipticEnvelope", "outlier", "outlier",
      lambda: covariance.EllipticEnvelope(random_state=0)),
]

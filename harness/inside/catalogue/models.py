"""Catalogue entries for predictors: linear, SVM, trees, ensembles, neighbors, NB, MLP, GP."""

from sklearn import (
    calibration, discriminant_analysis, ensemble, gaussian_process, isotonic, linear_model,
    naive_bayes, neighbors, neural_network, svm, tree,
)

from .. import compat
from .entry import Entry as E

# Iteration caps are raised where the default stops before convergence on the fixed data:
# a ConvergenceWarning at fit time would blur the load-time warnings the matrix measures.
LR_ITER = 5000
_MLP = dict(hidden_layer_sizes=(16,), max_iter=3000, learning_rate_init=0.01, tol=1e-3,
            random_state=0)


def _hgb(kind):
    def make():
        compat.enable_experimental("hist_gradient_boosting")
        cls = getattr(ensemble, "HistGradientBoosting" + kind)
        return cls(max_iter=50, random_state=0)
    return make


def _lr():
    return linear_model.LogisticRegression(max_iter=LR_ITER, random_state=0)


def _lr_cv():
    cls = linear_model.LogisticRegressionCV
    # 1.8-1.9 announce new defaults for l1_ratios, scoring and the fitted attributes.
    kw = compat.settle_warn_defaults(cls, l1_ratios=(0.0,), scoring="accuracy",
                                     use_legacy_attributes=False)
    return cls(Cs=4, cv=3, max_iter=LR_ITER, random_state=0, **kw)


def _voting_classifier():
    return ensemble.VotingClassifier(
        [("lr", _lr()), ("nb", naive_bayes.GaussianNB()),
         ("dt", tree.DecisionTreeClassifier(max_depth=4, random_state=0))],
        voting="soft",
    )


def _voting_regressor():
    return ensemble.VotingRegressor(
        [("ridge", linear_model.Ridge()),
         ("dt", tree.DecisionTreeRegressor(max_depth=4, random_state=0))],
    )


def _stacking_classifier():
    return ensemble.StackingClassifier(
        [("svc", svm.LinearSVC(dual=False, random_state=0)),
         ("dt", tree.DecisionTreeClassifier(max_depth=4, random_state=0))],
        final_estimator=_lr(), cv=3,
    )


def _stacking_regressor():
    return ensemble.StackingRegressor(
        [("ridge", linear_model.Ridge()),
         ("dt", tree.DecisionTreeRegressor(max_depth=4, random_state=0))],
        final_estimator=linear_model.Ridge(), cv=3,
    )


ENTRIES = [
    # linear: solvers and losses chosen so every release from 0.24 on accepts them silently.
    E("LogisticRegression", "linear", "classification", _lr),
    E("LogisticRegressionCV", "linear", "classification", _lr_cv),
    E("RidgeClassifier", "linear", "classification",
      lambda: linear_model.RidgeClassifier(random_state=0)),
    E("SGDClassifier-log", "linear", "classification",
      lambda: linear_model.SGDClassifier(loss=compat.sgd_log_loss(), random_state=0)),
    E("SGDClassifier-hinge", "linear", "classification",
      lambda: linear_model.SGDClassifier(loss="hinge", random_state=0)),
    E("Perceptron", "linear", "classification", lambda: linear_model.Perceptron(random_state=0)),
    E("LinearDiscriminantAnalysis", "linear", "classification",
      lambda: discriminant_analysis.LinearDiscriminantAnalysis()),
    E("LinearRegression", "linear", "regression", lambda: linear_model.LinearRegression()),
    E("Ridge", "linear", "regression", lambda: linear_model.Ridge(alpha=1.0, random_state=0)),
    E("Lasso", "linear", "regression", lambda: linear_model.Lasso(alpha=0.1, random_state=0)),
    E("ElasticNet", "linear", "regression",
      lambda: linear_model.ElasticNet(alpha=0.1, l1_ratio=0.5, random_state=0)),
    E("SGDRegressor", "linear", "regression",
      lambda: linear_model.SGDRegressor(max_iter=5000, random_state=0)),
    E("BayesianRidge", "linear", "regression", lambda: linear_model.BayesianRidge()),
    E("HuberRegressor", "linear", "regression",
      lambda: linear_model.HuberRegressor(max_iter=LR_ITER)),
    E("QuantileRegressor", "linear", "regression",
      lambda: linear_model.QuantileRegressor(alpha=0.0, **compat.quantile_solver()), "1.0"),
    E("PoissonRegressor", "linear", "regression-positive",
      lambda: linear_model.PoissonRegressor(max_iter=LR_ITER)),
    E("RANSACRegressor", "linear", "regression",
      lambda: linear_model.RANSACRegressor(random_state=0)),
    # svm: LinearSVC/LinearSVR get dual=False because 1.3-1.4 warn when dual is left unset.
    E("SVC", "svm", "classification", lambda: svm.SVC(random_state=0)),
    # probability=True is deprecated from 1.9 (a FutureWarning at fit, recorded), but it is
    # what years of stored SVC artifacts hold, so it stays while the parameter exists.
    E("SVC-probability", "svm", "classification",
      lambda: svm.SVC(probability=True, random_state=0)),
    E("NuSVC", "svm", "classification", lambda: svm.NuSVC(random_state=0)),
    E("LinearSVC", "svm", "classification",
      lambda: svm.LinearSVC(dual=False, random_state=0)),
    E("SVR", "svm", "regression", lambda: svm.SVR()),
    E("NuSVR", "svm", "regression", lambda: svm.NuSVR()),
    E("LinearSVR", "svm", "regression",
      lambda: svm.LinearSVR(loss="squared_epsilon_insensitive", dual=False, random_state=0)),
    E("OneClassSVM", "svm", "outlier", lambda: svm.OneClassSVM(nu=0.1)),
    # trees
    E("DecisionTreeClassifier", "tree", "classification",
      lambda: tree.DecisionTreeClassifier(random_state=0)),
    E("DecisionTreeRegressor", "tree", "regression",
      lambda: tree.DecisionTreeRegressor(random_state=0)),
    E("ExtraTreeClassifier", "tree", "classification",
      lambda: tree.ExtraTreeClassifier(random_state=0)),
    E("ExtraTreeRegressor", "tree", "regression",
      lambda: tree.ExtraTreeRegressor(random_state=0)),
    # ensembles: small n_estimators keep the dump to seconds and the artifacts small.
    E("RandomForestClassifier", "ensemble", "classification",
      lambda: ensemble.RandomForestClassifier(n_estimators=20, random_state=0)),
    E("RandomForestRegressor", "ensemble", "regression",
      lambda: ensemble.RandomForestRegressor(n_estimators=20, random_state=0)),
    E("ExtraTreesClassifier", "ensemble", "classification",
      lambda: ensemble.ExtraTreesClassifier(n_estimators=20, random_state=0)),
    E("ExtraTreesRegressor", "ensemble", "regression",
      lambda: ensemble.ExtraTreesRegressor(n_estimators=20, random_state=0)),
    E("GradientBoostingClassifier", "ensemble", "classification",
      lambda: ensemble.GradientBoostingClassifier(n_estimators=30, random_state=0)),
    E("GradientBoostingRegressor", "ensemble", "regression",
      lambda: ensemble.GradientBoostingRegressor(n_estimators=30, random_state=0)),
    E("HistGradientBoostingClassifier", "ensemble", "classification", _hgb("Classifier")),
    E("HistGradientBoostingRegressor", "ensemble", "regression", _hgb("Regressor")),
    E("AdaBoostClassifier", "ensemble", "classification",
      lambda: ensemble.AdaBoostClassifier(n_estimators=20, random_state=0,
                                          **compat.adaboost_samme())),
    E("AdaBoostRegressor", "ensemble", "regression",
      lambda: ensemble.AdaBoostRegressor(n_estimators=20, random_state=0)),
    E("BaggingClassifier", "ensemble", "classification",
      lambda: ensemble.BaggingClassifier(
          n_estimators=10, random_state=0,
          **compat.inner(tree.DecisionTreeClassifier(max_depth=5, random_state=0)))),
    E("BaggingRegressor", "ensemble", "regression",
      lambda: ensemble.BaggingRegressor(
          n_estimators=10, random_state=0,
          **compat.inner(tree.DecisionTreeRegressor(max_depth=5, random_state=0)))),
    E("IsolationForest", "ensemble", "outlier",
      lambda: ensemble.IsolationForest(n_estimators=20, random_state=0)),
    E("VotingClassifier", "ensemble", "classification", _voting_classifier),
    E("VotingRegressor", "ensemble", "regression", _voting_regressor),
    E("StackingClassifier", "ensemble", "classification", _stacking_classifier),
    E("StackingRegressor", "ensemble", "regression", _stacking_regressor),
    # neighbors: both tree structures, since their pickled state is separate Cython classes.
    E("KNeighborsClassifier-kd_tree", "neighbors", "classification",
      lambda: neighbors.KNeighborsClassifier(algorithm="kd_tree")),
    E("KNeighborsClassifier-ball_tree", "neighbors", "classification",
      lambda: neighbors.KNeighborsClassifier(algorithm="ball_tree")),
    E("KNeighborsRegressor-kd_tree", "neighbors", "regression",
      lambda: neighbors.KNeighborsRegressor(algorithm="kd_tree")),
    E("KNeighborsRegressor-ball_tree", "neighbors", "regression",
      lambda: neighbors.KNeighborsRegressor(algorithm="ball_tree")),
    E("NearestCentroid", "neighbors", "classification", lambda: neighbors.NearestCentroid()),
    E("LocalOutlierFactor-novelty", "neighbors", "outlier",
      lambda: neighbors.LocalOutlierFactor(novelty=True)),
    # naive Bayes: the count models need non-negative inputs, CategoricalNB integer codes.
    E("GaussianNB", "naive_bayes", "classification", lambda: naive_bayes.GaussianNB()),
    E("MultinomialNB", "naive_bayes", "nonneg", lambda: naive_bayes.MultinomialNB()),
    E("ComplementNB", "naive_bayes", "nonneg", lambda: naive_bayes.ComplementNB()),
    E("BernoulliNB", "naive_bayes", "classification", lambda: naive_bayes.BernoulliNB()),
    E("CategoricalNB", "naive_bayes", "categorical-codes", lambda: naive_bayes.CategoricalNB()),
    # neural networks
    # A larger step and looser tol converge in a few hundred epochs on the unscaled data.
    E("MLPClassifier", "neural_network", "classification",
      lambda: neural_network.MLPClassifier(**_MLP)),
    E("MLPRegressor", "neural_network", "regression",
      lambda: neural_network.MLPRegressor(**_MLP)),
    E("BernoulliRBM", "neural_network", "unit",
      lambda: neural_network.BernoulliRBM(n_components=4, random_state=0)),
    # Gaussian processes, calibration, isotonic
    E("GaussianProcessClassifier", "gaussian_process", "classification",
      lambda: gaussian_process.GaussianProcessClassifier(random_state=0)),
    E("GaussianProcessRegressor", "gaussian_process", "regression",
      lambda: gaussian_process.GaussianProcessRegressor(random_state=0)),
    E("CalibratedClassifierCV-sigmoid", "calibration", "classification",
      lambda: calibration.CalibratedClassifierCV(
          method="sigmoid", cv=3, **compat.inner(svm.LinearSVC(dual=False, random_state=0)))),
    E("CalibratedClassifierCV-isotonic", "calibration", "classification",
      lambda: calibration.CalibratedClassifierCV(
          method="isotonic", cv=3, **compat.inner(naive_bayes.GaussianNB()))),
    E("IsotonicRegression", "isotonic", "isotonic",
      lambda: isotonic.IsotonicRegression(out_of_bounds="clip")),
]

"""Tests of the inside dump: fixed data, catalogue, manifest, CLI (artifacts are never loaded)."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # the tests import harness.* whether or not pytest was run from REPO
    sys.path.insert(0, str(REPO))

pytest.importorskip("sklearn")

from harness.inside import catalogue, data, dump, schema
from harness.inside.dump import formats  # noqa: E402
from harness.inside.catalogue.entry import Entry  # noqa: E402
from harness.inside.dump.outputs import encode_array  # noqa: E402

# sha256 of every fixed dataset; it must never change silently: every stored artifact's
# reference outputs were computed on these bytes.
DATA_HASH = "b302dee63d9447b692751a1809ab03b1e205d06f5a510706959cf7aaa9081584"
# Every task before the binary and the DataFrame ones joined: unchanged.
ARRAY_HASH = "0eb8883b6d29b3a192acd63c668249309b9a88e0e000431fb7abc01bb59faf30"
# The first fourteen tasks, before the sparse and multi-output ones joined: unchanged.
DENSE_HASH = "c813e20ccf600b785fc995dbdd0a4da5c6cd054b0cd5315386de8e32168e26f9"

SMALL = ["LogisticRegression", "KMeans", "OneHotEncoder", "TfidfVectorizer"]


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def by_name(manifest):
    return dict((r["name"], r) for r in manifest["estimators"])


def assert_files_match(out, manifest):
    """Every file the manifest names exists with the recorded sha256 and size."""
    for rec in manifest["estimators"]:
        files = [rec["outputs"]] if "outputs" in rec else []
        files += [f for f in rec["formats"].values() if f["status"] == schema.DUMP_OK]
        for f in files:
            path = out / f["file"]
            assert path.is_file(), f["file"]
            assert sha256(path) == f["sha256"], f["file"]
            assert path.stat().st_size == f["size"], f["file"]


def test_data_hash_is_the_constant():
    assert data.data_hash() == DATA_HASH
    assert data.data_hash(data.TASKS[:14]) == DENSE_HASH
    assert data.data_hash(data.TASKS[:data.TASKS.index("classification-binary")]) == ARRAY_HASH


def _without_pandas(monkeypatch):
    def no_pandas():
        raise ImportError("No module named 'pandas'")

    monkeypatch.setattr(data, "_pandas", no_pandas)  # scikit-learn itself still sees pandas
    monkeypatch.setattr(data, "_FRAMES", {})


def test_frame_tasks_hold_the_same_rows_named_and_hash_the_same_without_pandas(monkeypatch):
    pd = pytest.importorskip("pandas")
    frame, plain = data.dataset("regression-frame"), data.dataset("regression")
    assert isinstance(frame.X, pd.DataFrame) and list(frame.X.columns) == list(data.NUMERIC_COLUMNS)
    assert (frame.X.to_numpy() == plain.X).all() and (frame.y == plain.y).all()
    assert [n for n, _ in frame.inputs] == [n for n, _ in plain.inputs]
    assert str(dict(frame.inputs)["float32"].dtypes.iloc[0]) == "float32"
    mixed = data.dataset("mixed-frame")
    kinds = [mixed.X[c].dtype.kind for c in mixed.X.columns]
    assert kinds[:3] != ["f"] * 3 and kinds[3:] == ["f"] * 5  # text categories, then numbers
    assert (dict(mixed.inputs)["unseen"]["colour_a"] == "violet").any()
    hashes = dict((t, data.task_hash(t)) for t in data.FRAME_TASKS)
    assert hashes["regression-frame"] != data.task_hash("regression")  # the names are hashed
    _without_pandas(monkeypatch)
    with pytest.raises(data.Unavailable, match="pandas does not import here"):
        data.dataset("regression-frame")
    assert dict((t, data.task_hash(t)) for t in data.FRAME_TASKS) == hashes


def test_frame_entries_fit_on_named_columns_or_are_na_without_pandas(tmp_path, monkeypatch):
    pytest.importorskip("pandas")
    from harness.inside.catalogue import variants as catalogue_variants

    base = catalogue.select(catalogue.entries(), ["Ridge", "OneHotEncoder", "Pipeline-ColumnTransformer-names-*"])
    entries = base + catalogue_variants.variants(base)
    assert "Ridge.frame" in [e.name for e in entries] and "OneHotEncoder.frame" in [e.name for e in entries]
    manifest = dump.run(str(tmp_path / "with"), "test-host", entries, ["pickle", "onnx"], progress=None)
    recs = by_name(manifest)
    for name, task in (("Ridge.frame", "regression-frame"), ("OneHotEncoder.frame", "categorical-frame"),
                       ("Pipeline-ColumnTransformer-names-LogisticRegression", "mixed-frame")):
        assert recs[name]["status"] == "ok" and recs[name]["task"] == task, recs[name]
        assert recs[name]["formats"]["onnx"]["status"] == schema.DUMP_NOT_APPLICABLE
    outputs = json.loads((tmp_path / "with" / "Ridge.frame" / "outputs.json").read_text())
    assert "feature_names_in_" in outputs["state"]  # what a DataFrame fit adds to the model
    names = outputs["methods"]["get_feature_names_out"] if "get_feature_names_out" in outputs["methods"] else None
    assert names is None or "f0" in json.dumps(names)
    _without_pandas(monkeypatch)
    recs = by_name(dump.run(str(tmp_path / "without"), "test-host", entries, ["pickle"], progress=None))
    assert recs["Ridge.frame"]["status"] == schema.DUMP_NOT_APPLICABLE
    assert recs["Ridge.frame"]["reason"].startswith("pandas does not import here")
    assert recs["Ridge"]["status"] == "ok"


def test_sparse_and_multioutput_tasks_hold_the_dense_rows():
    dense, sparse = data.dataset("regression"), data.dataset("regression-sparse")
    assert sparse.X.format == "csr" and (sparse.X.toarray() == dense.X).all()
    assert [n for n, _ in sparse.inputs] == [n for n, _ in dense.inputs]
    assert all(rows.format == "csr" for _, rows in sparse.inputs)
    assert data.task_hash("regression-sparse") != data.task_hash("regression")  # marked sparse
    multi = data.dataset("classification-multioutput")
    assert multi.y.shape == (data.N_TRAIN, 2) and (multi.y[:, 0] == data.dataset("classification").y).all()
    assert sorted(set(multi.y[:, 1].tolist())) == [0, 1]


def test_variants_fit_the_other_ways_or_say_why_not(tmp_path):
    import numpy as np
    from harness.inside.catalogue import variants as catalogue_variants

    base = catalogue.select(catalogue.entries(), ["Ridge", "LogisticRegression", "StandardScaler"])
    entries = catalogue_variants.variants(base)
    names = [e.name for e in entries]
    assert "Ridge.sparse" in names and "Ridge.weighted" in names and "Ridge.multioutput" in names
    assert "StandardScaler.multioutput" not in names  # a transformer has no target to widen
    manifest = dump.run(str(tmp_path), "test-host", entries, ["pickle", "onnx"], progress=None)
    recs = by_name(manifest)
    assert recs["Ridge.sparse"]["task"] == "regression-sparse" and recs["Ridge.sparse"]["status"] == "ok"
    assert recs["Ridge.sparse"]["formats"]["onnx"]["status"] == schema.DUMP_NOT_APPLICABLE
    assert recs["Ridge.multioutput"]["status"] == "ok" and recs["Ridge.weighted"]["variant"] == "weighted"
    reason = recs["LogisticRegression.multioutput"]["reason"]
    assert reason.startswith("does not fit on a multi-output target: ")
    assert recs["StandardScaler.sparse"]["reason"].startswith("does not fit on sparse CSR input: ")
    # The weights reach fit: the weighted model is another model.
    weighted = [e for e in entries if e.name == "Ridge.weighted"][0]
    ds = data.dataset("regression")
    from harness.inside.dump import outputs
    est = outputs.fit(weighted, ds)[0]
    plain = outputs.fit(base[[b.name for b in base].index("Ridge")], ds)[0]
    assert not np.allclose(est.coef_, plain.coef_)
    assert_files_match(tmp_path, manifest)


def test_data_shapes_and_dtypes():
    ds = data.dataset("classification")
    assert ds.X.shape == (data.N_TRAIN, data.N_FEATURES) and ds.X.dtype == "float64"
    assert ds.X_pred.shape == (data.N_PRED, data.N_FEATURES)
    assert sorted(set(ds.y.tolist())) == [0, 1, 2]
    assert data.dataset("cluster").y is None
    assert set(data.datasets()) == set(data.TASKS)


def test_catalogue_covers_every_family():
    entries = catalogue.entries(discover=True)
    assert len(entries) >= 150
    assert set(e.family for e in entries) <= set(schema.FAMILIES)
    hand = catalogue.entries()
    assert set(e.family for e in hand) == set(schema.FAMILIES[:schema.FAMILIES.index("mixture")])
    assert len(set(e.name for e in entries)) == len(entries)
    names = set(e.name for e in entries)
    for required in ("KNeighborsClassifier-kd_tree", "KNeighborsClassifier-ball_tree",
                     "FunctionTransformer-lambda", "Pipeline", "ColumnTransformer"):
        assert required in names


def test_discovery_covers_what_the_hand_catalogue_lacks_and_says_why_not_the_rest():
    import sklearn
    from sklearn.utils import all_estimators

    entries = catalogue.entries(discover=True)
    names = set(e.name for e in entries)
    for required in ("GaussianMixture", "GridSearchCV", "OneVsRestClassifier", "SelectKBest", "TSNE", "MultiOutputRegressor",
                     "EmpiricalCovariance", "DummyClassifier", "KernelRidge", "PLSRegression"):
        assert required in names, required
    listed = set(n for n, _ in all_estimators())
    assert set(catalogue.COVERAGE) == listed
    reasons = {n: v for n, v in catalogue.COVERAGE.items() if v not in ("covered", "discovered")}
    assert reasons.get("DictVectorizer", "").startswith("fits on dicts")
    assert all(reasons.values()), sklearn.__version__


def test_select_by_glob():
    entries = catalogue.entries()
    picked = catalogue.select(entries, ["KNeighbors*", "PCA"])
    assert [e.name for e in picked][-1] == "PCA"
    assert all(e.name.startswith("KNeighbors") for e in picked[:-1]) and len(picked) == 5


def test_small_dump_writes_manifest_last(tmp_path, monkeypatch):
    written = []
    real = formats.write_atomic

    def spy(path, payload):
        written.append(os.path.basename(path))
        real(path, payload)

    monkeypatch.setattr(formats, "write_atomic", spy)
    entries = catalogue.select(catalogue.entries(), SMALL)
    manifest = dump.run(str(tmp_path), "test-host", entries, progress=None)
    assert written[-1] == dump.MANIFEST and written.count(dump.MANIFEST) == 1
    on_disk = json.loads((tmp_path / dump.MANIFEST).read_text())
    assert on_disk == json.loads(json.dumps(manifest))
    assert on_disk["schema"] == schema.SCHEMA_VERSION and on_disk["data_hash"] == DATA_HASH
    assert on_disk["environment"]["producer"] == "test-host"
    assert_files_match(tmp_path, on_disk)
    recs = by_name(on_disk)
    assert set(recs) == set(SMALL)
    for rec in recs.values():
        assert rec["status"] == schema.DUMP_OK
        assert list(rec["formats"]) == list(schema.FORMATS)
        for fmt in ("pickle", "pickle-p5", "joblib", "joblib-z"):
            assert rec["formats"][fmt]["status"] == schema.DUMP_OK
    lr = recs["LogisticRegression"]
    assert 0.5 < lr["cv_score"] <= 1.0 and recs["KMeans"]["cv_score"] is None
    outs = json.loads((tmp_path / lr["outputs"]["file"]).read_text())["methods"]
    assert outs["predict"]["shape"] == [data.N_PRED] and outs["predict_proba"]["shape"] == [60, 3]
    assert not list(tmp_path.rglob("*.tmp-*"))


def test_failing_factory_is_recorded_and_others_dump(tmp_path):
    def broken():
        raise RuntimeError("factory exploded")

    entries = [Entry("Broken", "linear", "classification", broken)]
    entries += catalogue.select(catalogue.entries(), ["Ridge"])
    entries.append(Entry("FromTheFuture", "linear", "regression", broken, min_version="99.0"))
    manifest = dump.run(str(tmp_path), "test-host", entries, ["pickle", "joblib"], progress=None)
    recs = by_name(manifest)
    assert recs["Broken"]["status"] == schema.DUMP_ERROR
    assert recs["Broken"]["error"] == {"type": "RuntimeError", "message": "factory exploded"}
    broken_formats = recs["Broken"]["formats"].values()
    assert all(f["status"] == schema.DUMP_NOT_APPLICABLE for f in broken_formats)
    assert recs["FromTheFuture"]["status"] == schema.DUMP_NOT_APPLICABLE
    assert "99.0" in recs["FromTheFuture"]["reason"]
    assert recs["Ridge"]["status"] == schema.DUMP_OK
    assert list(recs["Ridge"]["formats"]) == ["pickle", "joblib"]
    assert_files_match(tmp_path, manifest)


def test_lambda_entry_is_cloudpickle_only(tmp_path):
    entries = catalogue.select(catalogue.entries(), ["FunctionTransformer-lambda"])
    rec = dump.run(str(tmp_path), "test-host", entries, progress=None)["estimators"][0]
    for fmt, frec in rec["formats"].items():
        if fmt == "cloudpickle":
            continue
        assert frec["status"] == schema.DUMP_NOT_APPLICABLE and "cloudpickle" in frec["reason"]
    pytest.importorskip("cloudpickle")
    assert rec["formats"]["cloudpickle"]["status"] == schema.DUMP_OK


def test_encode_array_handles_sparse_and_nan():
    sp = pytest.importorskip("scipy.sparse")
    rec = encode_array(sp.csr_matrix([[0.0, 1.5], [float("nan"), 0.0]]))
    assert rec["sparse"] is True and rec["shape"] == [2, 2] and rec["dtype"] == "float64"
    again = json.loads(json.dumps(rec))
    assert again["data"][0] == [0.0, 1.5] and again["data"][1][0] != again["data"][1][0]


def test_cli_rejects_bad_usage(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        dump.main(["--out", str(tmp_path), "--producer", "x", "--formats", "pickel"])
    assert exc.value.code == 2 and "unknown format" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        dump.main(["--out", str(tmp_path), "--producer", "x", "--estimators", "NoSuch*"])
    assert exc.value.code == 2
    assert not (tmp_path / dump.MANIFEST).exists()


def run_cli(python, out, estimators, formats_=None):
    """python -m inside.dump, with harness/ as the parent of the top-level package `inside`."""
    env = dict(os.environ, PYTHONPATH=str(REPO / "harness"))
    cmd = [python, "-m", "inside.dump", "--out", str(out), "--producer", "test-cli",
           "--estimators", estimators]
    if formats_:
        cmd += ["--formats", formats_]
    return subprocess.run(cmd, cwd=str(REPO / "harness"), env=env, capture_output=True,
                          text=True, timeout=600)


def test_cli_runs_as_top_level_package(tmp_path):
    proc = run_cli(sys.executable, tmp_path, "Ridge", "pickle,joblib-z")
    assert proc.returncode == 0, proc.stderr
    assert "Ridge" in proc.stderr
    manifest = json.loads((tmp_path / dump.MANIFEST).read_text())
    assert manifest["formats"] == ["pickle", "joblib-z"]
    assert_files_match(tmp_path, manifest)

# The oldest and newest environments run the whole catalogue in tests/envs/test_dump_envs.py.


def test_biclustering_is_compared_on_the_rows_and_columns_of_each_bicluster():
    from harness.inside.dump import outputs

    entry = [e for e in catalogue.entries(discover=True) if e.name == "SpectralBiclustering"][0]
    ds = data.dataset(entry.tasks[0])
    est = outputs.fit(entry, ds)[0]
    preds = outputs.predictions(est, ds)[0]
    assert {"rows_", "columns_", "row_labels_", "column_labels_"} <= set(preds)
    assert preds["rows_"]["shape"][1] == data.N_TRAIN and preds["columns_"]["dtype"] == "bool"


def test_discovery_fits_the_multi_task_and_threshold_classes_on_their_own_targets():
    from harness.inside.catalogue import discovered
    from harness.inside.dump import outputs

    entries = dict((e.name, e) for e in catalogue.entries(discover=True))
    for name, task in (("MultiTaskLasso", "regression-multioutput"), ("CCA", "regression-multioutput"),
                       ("SelectKBest", "transform"), ("GaussianRandomProjection", "transform")):
        entry = entries[name]
        assert entry.tasks[0] == task
        outputs.fit(entry, data.dataset(task))  # raises when it does not fit
    binary = data.dataset("classification-binary")
    assert sorted(set(binary.y.tolist())) == [0, 1] and (binary.X == data.dataset("classification").X).all()
    assert discovered.MULTI_OUTPUT["TunedThresholdClassifierCV"] == ("classification-binary",)


def test_hand_catalogue_records_coverage_of_what_it_dumped_and_why_not_the_rest(tmp_path):
    from sklearn.utils import all_estimators

    entries = catalogue.select(catalogue.entries(), SMALL)
    listed = set(n for n, _ in all_estimators())
    assert set(catalogue.COVERAGE) == listed
    assert catalogue.COVERAGE["GaussianMixture"] == catalogue.HAND_ONLY
    coverage = dump.run(str(tmp_path), "test-host", entries, progress=None)["coverage"]
    dumped = sorted(n for n, why in coverage["classes"].items() if why == "covered")
    assert dumped == ["KMeans", "LogisticRegression", "OneHotEncoder", "TfidfVectorizer"]
    assert coverage["all"] == len(listed) and coverage["covered"] == 4
    # A hand-written class the selection left out says so, not "covered".
    assert coverage["classes"]["PCA"].startswith("no entry of this class was dumped")
    assert coverage["classes"]["GaussianMixture"] == catalogue.HAND_ONLY
    assert all(coverage["classes"].values())

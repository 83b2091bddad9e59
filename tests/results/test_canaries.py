"""Canaries and controls: made from a producer's own dump, judged like any cell, and a judgement
broken on purpose (every comparison 'identical') fails the run's proof."""

import base64
import hashlib
import io
import json

import numpy as np
import pytest

from harness.results import canaries, judge, proof
from harness.results.cells import Cell
from harness.core.untrusted import UntrustedInput

TOL = (1e-7, 1e-10)
CLS = "sklearn.linear_model._logistic.LogisticRegression"


def producer_folder(tmp_path):
    """A producer's folder with one estimator's pickle (never loaded here) and outputs.json."""
    folder = tmp_path / "p"
    (folder / "LogisticRegression").mkdir(parents=True)
    outputs = {"schema": 2, "task": "classification", "input_sha256": "1" * 64, "predict_warnings": [],
               "methods": {"predict": {"dtype": "int64", "shape": [4], "data": [0, 1, 2, 1]},
                           "predict_proba": {"dtype": "float64", "shape": [2, 2], "data": [[0.25, 0.75], [0.5, 0.5]]}}}
    raw = json.dumps(outputs).encode()
    (folder / "LogisticRegression/outputs.json").write_bytes(raw)
    manifest = {"estimators": [{"name": "LogisticRegression", "status": "ok", "class": CLS, "task": "classification",
                                "outputs": {"file": "LogisticRegression/outputs.json",
                                            "sha256": hashlib.sha256(raw).hexdigest()},
                                "formats": {"pickle": {"status": "ok", "file": "LogisticRegression/model.pkl",
                                                       "sha256": "2" * 64}}}]}
    return folder, manifest, outputs


def npy(values, dtype):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asarray(values, dtype=dtype), allow_pickle=False)
    return {"kind": "ok", "npy": base64.b64encode(buf.getvalue()).decode(), "sparse": False}


def judged(folder, canary, honest):
    """The merged record of a canary whose consumer computed the honest outputs (or failed to load)."""
    cell = Cell("k-" + canary.name, "p", canary.name, "pickle", "p/" + canary.file, "p/" + canary.outputs,
                canary.sha256, canary.cls, None, canary.task, canary.outputs_sha256, canary.expected)
    if canary.artifact_bytes:  # the class does not exist: what the child reports
        child = {"load": "error", "error": {"type": "AttributeError", "message": "Can't get attribute 'NoSuchEstimator'"}}
    else:
        child = {"load": "ok", "warnings": [], "methods": {
            "predict": npy(honest["methods"]["predict"]["data"], np.int64),
            "predict_proba": npy(honest["methods"]["predict_proba"]["data"], np.float64)}}
    expected = json.loads(canary.outputs_bytes)
    line = judge.judge(cell, "p", {"child": json.dumps(child), "outcome": {"exit_code": 0}}, expected, TOL, 60)
    return dict(line, consumer="p", canary={"status": canary.expected, "type_change": canary.type_change})


def test_every_canary_comes_out_as_expected_and_the_proof_holds(tmp_path):
    folder, manifest, honest = producer_folder(tmp_path)
    made = canaries.plan(folder, manifest)
    assert {c.name for c in made} == {"canary-scaled", "canary-one-ulp", "canary-labels-swapped", "canary-dtype",
                                      "canary-nothing-compared", "canary-no-such-class"}
    canaries.write(folder, made)
    assert (folder / "canaries/canary-no-such-class/model.pkl").read_bytes().startswith(b"\x80\x02csklearn.linear_model._logistic\nNoSuchEstimator")
    records = [judged(folder, c, honest) for c in made]
    assert {r["estimator"]: r["status"] for r in records} == {
        "canary-scaled": "mismatch", "canary-one-ulp": "close", "canary-labels-swapped": "mismatch",
        "canary-dtype": "identical", "canary-nothing-compared": "uncompared", "canary-no-such-class": "load-error"}
    assert all(canaries.verdict(r) is None for r in records), [canaries.verdict(r) for r in records]
    control = {"producer": "p", "consumer": "p", "format": "pickle", "estimator": "LogisticRegression", "status": "identical"}
    result = proof.check(records + [control])
    assert result["ok"] and result["canaries"]["computed"] == 6 and result["controls"]["computed"] == 1


def test_a_comparison_that_always_says_identical_fails_the_proof(tmp_path, monkeypatch):
    folder, manifest, honest = producer_folder(tmp_path)
    made = canaries.plan(folder, manifest)
    monkeypatch.setattr(judge, "compare", lambda *a, **k: {"status": judge.IDENTICAL})
    result = proof.check([judged(folder, c, honest) for c in made])
    assert not result["ok"]
    wrong = {f["estimator"] for f in result["canaries"]["failed"]}
    assert {"canary-scaled", "canary-one-ulp", "canary-labels-swapped", "canary-dtype"} <= wrong


def test_a_failed_control_and_a_missing_canary_fail_the_proof():
    control = {"producer": "p", "consumer": "p", "format": "pickle", "estimator": "E", "status": "mismatch",
               "error": None}
    result = proof.check([control])
    assert not result["ok"] and result["controls"]["failed_count"] == 1
    assert any("no canary" in p for p in result["problems"])
    onnx = dict(control, format="onnx")  # float32 by design: no control
    assert proof.check([onnx])["controls"]["total"] == 0
    # A skops file the trust policy refuses, or an estimator with nothing to compare, tests no
    # judgement: counted apart, neither passed nor failed; a crash on the diagonal still fails.
    others = [dict(control, format="skops", status="refused"), dict(control, status="uncompared"),
              dict(control, status="crash")]
    result = proof.check(others)
    assert result["controls"]["not_controls"] == {"refused": 1, "uncompared": 1}
    assert result["controls"]["total"] == 1 and result["controls"]["failed_count"] == 1


def test_a_planted_link_gets_no_canary_written(tmp_path):
    folder, manifest, _ = producer_folder(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (folder / "canaries").symlink_to(outside)
    with pytest.raises(UntrustedInput):  # loads._write_canaries catches it: that producer gets none
        canaries.write(folder, canaries.plan(folder, manifest))
    assert not any(outside.iterdir())


def test_a_canary_judges_the_fixed_rows_only_so_one_row_s_last_bit_cannot_flip_it(tmp_path):
    # As seen with OpenBLAS: a single row's decision_function 1 ulp apart between dump and reload.
    folder, manifest, honest = producer_folder(tmp_path)
    honest["methods"]["decision_function@single-row"] = {"dtype": "float64", "shape": [1], "data": [0.1]}
    raw = json.dumps(honest).encode()
    (folder / "LogisticRegression/outputs.json").write_bytes(raw)
    manifest["estimators"][0]["outputs"]["sha256"] = hashlib.sha256(raw).hexdigest()
    made = {c.name: c for c in canaries.plan(folder, manifest)}
    assert all("@" not in call for c in made.values() for call in json.loads(c.outputs_bytes)["methods"])
    dtype = made["canary-dtype"]
    cell = Cell("k", "p", dtype.name, "pickle", "p/" + dtype.file, "p/" + dtype.outputs, dtype.sha256, dtype.cls,
                None, dtype.task, dtype.outputs_sha256, dtype.expected)
    child = {"load": "ok", "warnings": [], "methods": {
        "predict": npy(honest["methods"]["predict"]["data"], np.int64),
        "predict_proba": npy(honest["methods"]["predict_proba"]["data"], np.float64),
        "decision_function@single-row": npy([np.nextafter(0.1, 1.0)], np.float64)}}
    line = judge.judge(cell, "p", {"child": json.dumps(child), "outcome": {"exit_code": 0}},
                       json.loads(dtype.outputs_bytes), TOL, 60)
    record = dict(line, consumer="p", canary={"status": dtype.expected, "type_change": dtype.type_change})
    assert record["status"] == "identical" and canaries.verdict(record) is None

"""The comparison and the verdict on crafted inputs: ulps, NaN, dtype and shape changes,
permuted classes, one-sided calls, nothing compared."""

import base64
import io
import json

import numpy as np
import pytest

from harness.results import judge
from harness.results.cells import Cell
from harness.inside.schema import Status

TOL = (1e-7, 1e-10)


def npy(value, sparse=False):
    """A child's record of one output, as the loader sends it."""
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asarray(value), allow_pickle=False)
    return {"kind": "ok", "npy": base64.b64encode(buf.getvalue()).decode(), "sparse": sparse}


def rec(value, sparse=False):
    """A producer's record of one output, as outputs.json stores it."""
    arr = np.asarray(value)
    out = {"dtype": str(arr.dtype), "shape": list(arr.shape), "data": arr.tolist()}
    if sparse:
        out["sparse"] = True
    return out


def cmp(got, want, **kw):
    return judge.compare(np.asarray(got), judge.decode_producer(rec(want)), *TOL, **kw)


def test_equal_floats_are_identical_and_one_ulp_is_close_not_identical():
    x = np.array([0.1, 0.25, 3.0])
    assert cmp(x, x)["status"] == judge.IDENTICAL
    ulp = np.nextafter(x, np.inf)
    got = cmp(ulp, x)
    assert got["status"] == judge.CLOSE and 0 < got["max_abs"] < 1e-15


def test_a_difference_beyond_tolerance_is_a_mismatch_with_where():
    got = cmp([0.1, 0.25, 3.0 * (1 + 1e-5)], [0.1, 0.25, 3.0])
    assert got["status"] == judge.MISMATCH and "first at [2]" in got["detail"]


def test_nan_in_the_same_places_is_identical_in_other_places_a_mismatch():
    assert cmp([np.nan, 1.0], [np.nan, 1.0])["status"] == judge.IDENTICAL
    got = cmp([1.0, np.nan], [np.nan, 1.0])
    assert got["status"] == judge.MISMATCH and "NaN" in got["detail"]
    assert cmp([np.inf, -np.inf], [np.inf, -np.inf])["status"] == judge.IDENTICAL


def test_shape_change_is_a_mismatch_even_with_the_same_values():
    got = cmp(np.zeros((2, 3)), np.zeros((3, 2)))
    assert got["status"] == judge.MISMATCH and "shape" in got["detail"]
    assert cmp(np.zeros(6), np.zeros((6, 1)))["status"] == judge.MISMATCH


def test_labels_permuted_are_a_mismatch():
    got = cmp([1, 0, 2, 2], [0, 1, 2, 2])
    assert got["status"] == judge.MISMATCH and "2 of 4 labels differ" in got["detail"]
    # Class order of probabilities permuted: columns swapped.
    assert cmp([[0.2, 0.8]], [[0.8, 0.2]])["status"] == judge.MISMATCH


def test_float_where_the_producer_had_int_is_a_mismatch():
    assert cmp(np.array([0.0, 1.0]), np.array([0, 1]))["status"] == judge.MISMATCH


def test_text_labels_compare_exactly():
    assert cmp(np.array(["a", "b"]), np.array(["a", "b"]))["status"] == judge.IDENTICAL
    assert cmp(np.array(["a", "c"]), np.array(["a", "b"]))["status"] == judge.MISMATCH


@pytest.mark.parametrize("got, want, change", [
    (np.array([1.0, 2.0], dtype=np.float32), np.array([1.0, 2.0]), "dtype float64 -> float32"),
    (np.array([1, 2], dtype=np.int32), np.array([1, 2], dtype=np.int64), "dtype int64 -> int32"),
])
def test_a_change_of_dtype_is_recorded_even_when_values_are_equal(got, want, change):
    out = cmp(got, want)
    assert out["status"] == judge.IDENTICAL and out["type_change"] == change


def test_byte_order_alone_is_no_change_of_type():
    got = np.array([1.0, 2.0], dtype=">f8")
    assert "type_change" not in cmp(got, np.array([1.0, 2.0]))


def test_dense_to_sparse_is_recorded():
    out = judge.compare(np.eye(2), judge.decode_producer(rec(np.eye(2))), *TOL, sparse=True, want_sparse=False)
    assert out["status"] == judge.IDENTICAL and out["type_change"] == "dense -> sparse"


def cell(fmt="pickle"):
    return Cell("k", "p", "Est", fmt, "p/Est/model.pkl", "p/Est/outputs.json", "0" * 64,
                "sklearn.linear_model.Est", None, "classification", "1" * 64)


def line(produced, methods, warnings=(), fmt="pickle", **child):
    body = dict({"load": "ok", "methods": methods, "warnings": list(warnings)}, **child)
    expected = {"schema": 2, "task": "classification", "input_sha256": "1" * 64, "methods": produced}
    return judge.judge(cell(fmt), "c", {"child": json.dumps(body), "outcome": {"exit_code": 0}},
                       expected, TOL, 60)


def test_nothing_compared_is_its_own_outcome_and_keeps_warnings():
    warn = [{"category": "InconsistentVersionWarning", "message": "from 1.0 to 1.2"}]
    out = line({}, {}, warn)
    assert out["status"] == Status.UNCOMPARED and out["warnings"][0]["category"] == "InconsistentVersionWarning"


def test_a_method_only_the_consumer_has_is_recorded_and_does_not_fail():
    out = line({"predict": rec([0, 1])}, {"predict": npy([0, 1]), "predict_proba": npy([[1.0, 0.0]])})
    assert out["status"] == Status.IDENTICAL
    assert out["methods"]["predict_proba"]["status"] == judge.CONSUMER_ONLY
    assert out["grid"]["predict_proba"][0] == "O"


def test_a_call_the_producer_could_not_make_and_the_consumer_can_is_recorded():
    produced = {"predict": rec([0, 1]), "predict@missing": {"error": {"type": "ValueError", "message": "NaN"}}}
    out = line(produced, {"predict": npy([0, 1]), "predict@missing": npy([0, 1])})
    assert out["status"] == Status.IDENTICAL
    assert out["methods"]["predict@missing"]["status"] == judge.PRODUCER_ERROR


def test_a_core_method_the_loaded_model_lacks_fails_an_extra_one_is_recorded():
    out = line({"predict": rec([0, 1])}, {})
    assert out["status"] == Status.PREDICT_ERROR and out["methods"]["predict"]["status"] == judge.MISSING
    out = line({"predict": rec([0, 1]), "get_feature_names_out": rec(np.array(["x0"]))}, {"predict": npy([0, 1])})
    assert out["status"] == Status.IDENTICAL
    assert out["methods"]["get_feature_names_out"]["status"] == judge.PRODUCER_ONLY


def test_a_mismatch_on_another_input_fails_the_cell_and_shows_in_the_grid():
    produced = {"predict": rec([0, 1]), "predict@outside": rec([2, 2])}
    out = line(produced, {"predict": npy([0, 1]), "predict@outside": npy([2, 1])})
    assert out["status"] == Status.MISMATCH
    assert out["grid"]["predict"] == "IM...."
    assert out["methods"]["predict@outside"]["status"] == judge.MISMATCH


def test_identical_calls_on_other_inputs_live_in_the_grid_only():
    produced = {"predict": rec([0, 1]), "predict@single-row": rec([0])}
    out = line(produced, {"predict": npy([0, 1]), "predict@single-row": npy([0])})
    assert out["grid"]["predict"] == "I...I." and "predict@single-row" not in out["methods"]
    assert "predict" in out["methods"]


def test_an_error_and_a_mismatch_both_stay_visible():
    produced = {"predict": rec([0, 1]), "predict_proba": rec([[0.5, 0.5], [0.1, 0.9]])}
    child = {"predict": {"kind": "error", "error": {"type": "ValueError", "message": "boom"}},
             "predict_proba": npy([[0.9, 0.1], [0.1, 0.9]])}
    out = line(produced, child)
    assert out["status"] == Status.PREDICT_ERROR and out["error"]["type"] == "ValueError"
    assert out["methods"]["predict_proba"]["status"] == judge.MISMATCH


def test_warnings_make_identical_a_warning_but_not_a_mismatch_better():
    warn = [{"category": "UserWarning", "message": "x"}]
    assert line({"predict": rec([0])}, {"predict": npy([0])}, warn)["status"] == Status.WARNING
    assert line({"predict": rec([0])}, {"predict": npy([1])}, warn)["status"] == Status.MISMATCH


def test_a_child_output_that_is_a_pickle_is_refused_unread():
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.array([object()], dtype=object), allow_pickle=True)
    hostile = {"kind": "ok", "npy": base64.b64encode(buf.getvalue()).decode()}
    out = line({"predict": rec([0])}, {"predict": hostile})
    assert out["status"] == Status.MISMATCH and "cannot compare" in out["methods"]["predict"]["detail"]


def test_float32_outputs_compare_within_their_own_precision():
    want = np.array([-0.5043455362319946], dtype=np.float32)
    got = np.array([-0.5043455958366394], dtype=np.float32)  # 0.24.2 against 1.9.1, float32 rows
    assert judge.compare(got, judge.decode_producer(rec(want)), *TOL)["status"] == judge.CLOSE
    far = want * np.float32(1 + 1e-5)
    assert judge.compare(far, judge.decode_producer(rec(want)), *TOL)["status"] == judge.MISMATCH
    # float64 keeps the matrix's own tolerance.
    assert cmp([1.0 + 5e-7], [1.0])["status"] == judge.MISMATCH


@pytest.mark.parametrize("value", [
    np.float64(-3.5),                                     # a 0-d output (BernoulliRBM.score_samples of one row)
    np.array([["red", None], [None, "blue"]], dtype=object),  # inverse_transform of unseen categories
    np.array(["a", "bb"], dtype=object),
    np.array([1, 2], dtype=object),
])
def test_the_producers_record_and_the_consumers_output_of_one_value_judge_identical(value):
    # Found by the diagonal controls of the default matrix: both sides must encode alike.
    from harness.inside.load import loaders
    from harness.inside.dump import outputs

    want, got = outputs.encode_array(value), loaders.encode(value)
    out = judge.compare(judge.decode_consumer(got), judge.decode_producer(json.loads(json.dumps(want))), *TOL)
    assert out["status"] == judge.IDENTICAL and "type_change" not in out, (want, out)


def test_an_onnx_cell_records_only_the_methods_a_graph_can_have():
    produced = {"predict": rec([0, 1]), "score": rec(np.array([0.9])), "apply": rec([[1], [2]])}
    child = {"graph": {"fixed": [["label", npy([0, 1])]]}}
    out = line(produced, {}, fmt="onnx", **child)
    assert out["status"] == Status.IDENTICAL and set(out["methods"]) == {"predict"}


@pytest.mark.parametrize("fmt,child", [
    ("pickle", {"methods": {"predict": npy([0, 1]), "predict@one": npy([1]), "transform": "bad"}}),
    ("onnx", {"graph": {"fixed": [["label", npy([0, 1])]], "one": [["label", npy([2])]]}}),
])
def test_one_record_judged_against_several_producers_with_one_memo_is_judged_as_without(fmt, child):
    record = {"child": json.dumps(dict({"load": "ok", "warnings": []}, **child)), "outcome": {"exit_code": 0}}
    producers = [{"predict": rec([0, 1]), "predict@one": rec([1])}, {"predict": rec([1, 1]), "predict@one": rec([2])},
                 {"predict": rec([0.5, 1.0]), "transform": rec([[1.0]])}]
    memo = judge.Memo()
    for produced in producers + producers:
        expected = {"schema": 2, "task": "classification", "input_sha256": "1" * 64, "methods": produced}
        alone = judge.judge(cell(fmt), "c", record, expected, TOL, 60)
        assert judge.judge(cell(fmt), "c", record, expected, TOL, 60, memo) == alone
    assert memo.child is not None and memo.arrays


def test_a_memo_never_returns_the_array_of_another_record_that_had_the_same_id():
    memo = judge.Memo()
    first = npy([1, 2])
    assert memo.decoded(first).tolist() == [1, 2]
    second = dict(npy([3]))
    memo.arrays[id(second)] = (first, memo.arrays[id(first)][1])  # as if id(first) were reused
    assert memo.decoded(second).tolist() == [3]


def _npy_bytes(arr):
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


@pytest.mark.parametrize("arr", [np.arange(6.0).reshape(2, 3), np.asfortranarray(np.arange(6.0).reshape(2, 3)),
                                 np.array(3.5), np.zeros((0, 3)), np.array(["ab", "c"]),
                                 np.arange(5, dtype=">i4"), np.array([1 + 2j]), np.array([True, False]),
                                 np.arange(24).reshape(2, 3, 4), np.zeros(1, dtype=np.float32)])
def test_the_plain_npy_reader_reads_what_numpy_reads(arr):
    raw = _npy_bytes(arr)
    got, want = judge._plain_npy(raw), np.lib.format.read_array(io.BytesIO(raw), allow_pickle=False)
    assert got is not None and got.dtype == want.dtype and got.shape == want.shape
    assert (got == want).all() and got.flags.writeable


@pytest.mark.parametrize("mangle", [lambda raw: raw[:-1], lambda raw: raw.replace(b"'<f8'", b"'|O8'"),
                                    lambda raw: raw.replace(b"(2, 3)", b"(2, 9999999999)")])
def test_anything_but_a_plain_npy_goes_to_numpy_s_own_reader(mangle):
    raw = mangle(_npy_bytes(np.arange(6.0).reshape(2, 3)))
    assert judge._plain_npy(raw) is None
    with pytest.raises(judge.Unusable):
        judge.decode_consumer({"npy": base64.b64encode(raw).decode()})
    longer = _npy_bytes(np.arange(6.0)) + b"\0" * 8  # numpy reads past nothing it does not need
    assert judge._plain_npy(longer) is None
    assert (judge.decode_consumer({"npy": base64.b64encode(longer).decode()}) == np.arange(6.0)).all()


def test_a_producer_record_is_decoded_once_read_only_and_never_for_another_record():
    produced = judge._Produced()
    first, second = rec([[0.5, 1.5]]), rec([[2.5, 3.5]])
    arr = produced.get(first)
    assert produced.get(first) is arr and not arr.flags.writeable
    assert produced.get(second).tolist() == [[2.5, 3.5]]  # its own values, not the first record's
    for n in range(produced.SIZE):  # the oldest goes once SIZE others were decoded after it
        produced.get(rec([float(n)]))
    assert id(first) not in produced.arrays
    assert produced.get(first) is not arr and produced.get(first).tolist() == [[0.5, 1.5]]

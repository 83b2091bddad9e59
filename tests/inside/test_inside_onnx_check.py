"""Tests of the stdlib ONNX pre-check: external data and custom domains are refused before
onnxruntime sees a model; malformed, oversized and too deeply nested files are refused quickly."""

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from harness.inside.load import onnx_check  # noqa: E402

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.external_data_helper import (  # noqa: E402
    convert_model_to_external_data, set_external_data)

np = pytest.importorskip("numpy")

ABSOLUTE = os.path.abspath(os.sep + os.path.join("etc", "passwd"))
LOCATIONS = ["../../etc/passwd", ABSOLUTE]


# -- building models ---------------------------------------------------------------------------

def _model(nodes, inputs, outputs, initializers=(), opsets=(("", 13),), functions=(),
           sparse=()):
    graph = helper.make_graph(nodes, "main", inputs, outputs, initializer=list(initializers),
                              sparse_initializer=list(sparse))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets],
                              functions=list(functions))
    model.ir_version = 8
    return model


def _vi(name, shape=(1, 2)):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape))


def _tensor(name="W", values=(1.0, 2.0)):
    return numpy_helper.from_array(np.array([values], dtype=np.float32), name)


def _external(tensor, location="../../etc/passwd"):
    set_external_data(tensor, location)
    tensor.ClearField("raw_data")
    return tensor


def _add_model(w):
    """y = x + W, with W an initializer."""
    return _model([helper.make_node("Add", ["x", "W"], ["y"], name="add")],
                  [_vi("x")], [_vi("y")], initializers=[w])


def _constant(tensor, out="c"):
    return helper.make_node("Constant", [], [out], value=tensor, name="const_" + out)


def _if_model(then_nodes):
    """y = If(cond) then <then_nodes producing 't'> else a harmless constant."""
    then_g = helper.make_graph(then_nodes, "then", [], [_vi("t")])
    else_g = helper.make_graph([_constant(_tensor("E"), "e")], "else", [], [_vi("e")])
    node = helper.make_node("If", ["cond"], ["y"], then_branch=then_g, else_branch=else_g,
                            name="if0")
    return _model([node], [helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
                  [_vi("y")])


def _write(tmp_path, data, name="model.onnx"):
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.SerializeToString())
    return path


def _one(found, *parts):
    """The found list has a problem containing every part."""
    assert found, "expected a problem"
    assert any(all(p in f for p in parts) for f in found), found
    for f in found:
        assert "\n" not in f
    return found


# -- a tiny protobuf writer, for files the onnx package will not build ---------------------------

def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _len_field(number, payload):
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _nested_graph_model(levels):
    """A ModelProto whose graph holds an If node whose then_branch holds ... levels deep."""
    graph = _len_field(2, b"leaf")
    for _ in range(levels):
        attribute = _len_field(1, b"then_branch") + _len_field(6, graph)
        node = _len_field(4, b"If") + _len_field(5, attribute)
        graph = _len_field(1, node)
    return _varint(1 << 3) + _varint(8) + _len_field(7, graph)


# -- honest conversions --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def honest():
    pytest.importorskip("sklearn")
    skl2onnx = pytest.importorskip("skl2onnx")
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    rng = np.random.RandomState(0)
    X = rng.rand(200, 5).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 1).astype(np.int64)
    models = {
        "LogisticRegression": LogisticRegression().fit(X, y),
        "Pipeline": make_pipeline(StandardScaler(),
                                  RandomForestClassifier(n_estimators=20, random_state=0)
                                  ).fit(X, y),
        # MatMul/Sub with initializers, for the cross-check with onnx's own tensor walk
        "PCA": make_pipeline(PCA(3), LogisticRegression()).fit(X, y),
    }
    return dict((k, skl2onnx.to_onnx(m, X[:1])) for k, m in models.items()), X


@pytest.mark.parametrize("name", ["LogisticRegression", "Pipeline", "PCA"])
def test_honest_skl2onnx_models_have_no_problems(tmp_path, honest, name):
    models, X = honest
    path = _write(tmp_path, models[name])
    assert onnx_check.problems(path) == []
    assert onnx_check.problems(str(path)) == []


def test_read_model_returns_the_checked_bytes_and_onnxruntime_runs_them(tmp_path, honest):
    ort = pytest.importorskip("onnxruntime")
    models, X = honest
    path = _write(tmp_path, models["Pipeline"])
    data, found = onnx_check.read_model(path)
    assert found == [] and data == path.read_bytes()
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    assert len(sess.run(None, {sess.get_inputs()[0].name: X[:3]})[0]) == 3


def test_explicit_ai_onnx_domains_are_fine(tmp_path):
    model = _model([helper.make_node("Relu", ["x"], ["y"], domain="ai.onnx")],
                   [_vi("x")], [_vi("y")], opsets=[("", 13), ("ai.onnx", 13), ("ai.onnx.ml", 3)])
    assert onnx_check.problems(_write(tmp_path, model)) == []


# -- external data -------------------------------------------------------------------------------

@pytest.mark.parametrize("location", LOCATIONS)
def test_initializer_with_external_data_is_refused(tmp_path, location):
    found = onnx_check.problems(_write(tmp_path, _add_model(_external(_tensor(), location))))
    _one(found, "tensor 'W' stores its data outside the model (external data: %s)" % location,
         "graph 'main' > initializer")


@pytest.mark.parametrize("location", LOCATIONS)
def test_convert_model_to_external_data_is_refused(tmp_path, location):
    model = _if_model([_constant(_tensor("K"), "t")])
    model.graph.initializer.extend([_tensor("W")])
    # onnx's helper refuses hostile locations itself: convert, then point the entries away.
    convert_model_to_external_data(model, all_tensors_to_one_file=True, location="w.data",
                                   size_threshold=0, convert_attribute=True)
    tensors = list(onnx.external_data_helper._get_all_tensors(model))
    assert len(tensors) == 3
    for t in tensors:
        assert t.data_location == TensorProto.EXTERNAL
        for entry in t.external_data:
            if entry.key == "location":
                entry.value = location
    found = onnx_check.problems(_write(tmp_path, model))  # serialized as is: nothing written
    assert len(found) == 3, found
    for name in ("W", "K", "E"):
        _one(found, "tensor '%s'" % name, "external data: %s" % location)


def test_data_location_alone_or_entries_alone_are_refused(tmp_path):
    only_flag = _tensor()
    only_flag.data_location = TensorProto.EXTERNAL
    _one(onnx_check.problems(_write(tmp_path, _add_model(only_flag), "a.onnx")),
         "external data: no location given")
    only_entries = _tensor()
    entry = only_entries.external_data.add()
    entry.key, entry.value = "location", "../../etc/passwd"
    assert only_entries.data_location == TensorProto.DEFAULT
    _one(onnx_check.problems(_write(tmp_path, _add_model(only_entries), "b.onnx")),
         "external data: ../../etc/passwd")


@pytest.mark.parametrize("value, text", [
    (0, None),
    (2, "unknown data_location 2"),
    ((1 << 32) + 1, "outside the model"),  # an int32 reader of the enum sees EXTERNAL
])
def test_data_location_values_are_read_like_an_int32(value, text):
    tensor = _len_field(8, b"W") + _varint(14 << 3) + _varint(value)
    data = _varint(1 << 3) + _varint(8) + _len_field(7, _len_field(5, tensor))
    found = onnx_check.problems_in_bytes(data)
    if text is None:
        assert found == []
    else:
        _one(found, "tensor 'W'", text)


def test_external_data_in_a_constant_node_is_refused(tmp_path):
    model = _model([_constant(_external(_tensor("K")), "y")], [], [_vi("y")])
    _one(onnx_check.problems(_write(tmp_path, model)),
         "tensor 'K' stores its data outside the model",
         "node 'const_y' (Constant) > attribute 'value'")


def test_external_data_in_a_constant_tensors_list_and_sparse_value_is_refused(tmp_path):
    values = _external(numpy_helper.from_array(np.array([1.0], dtype=np.float32), "SV"))
    indices = numpy_helper.from_array(np.array([0], dtype=np.int64), "SI")
    sparse = helper.make_sparse_tensor(values, indices, [2])
    node = helper.make_node("Constant", [], ["y"], sparse_value=sparse, name="sp")
    _one(onnx_check.problems(_write(tmp_path, _model([node], [], [_vi("y", (2,))]), "s.onnx")),
         "tensor 'SV'", "attribute 'sparse_value' > sparse values")
    attr = helper.make_attribute("list", [_tensor("A"), _external(_tensor("B"))])
    node = helper.make_node("Constant", [], ["y"], name="lst")
    node.attribute.extend([attr])
    _one(onnx_check.problems(_write(tmp_path, _model([node], [], [_vi("y")]), "l.onnx")),
         "tensor 'B'", "attribute 'list'")


def test_external_data_in_a_sparse_initializer_is_refused(tmp_path):
    values = numpy_helper.from_array(np.array([1.0], dtype=np.float32), "SW")
    indices = _external(numpy_helper.from_array(np.array([0], dtype=np.int64), "SWi"),
                        "/etc/shadow")
    sparse = helper.make_sparse_tensor(values, indices, [1, 2])
    model = _model([helper.make_node("Add", ["x", "SW"], ["y"])], [_vi("x")], [_vi("y")],
                   sparse=[sparse])
    _one(onnx_check.problems(_write(tmp_path, model)),
         "tensor 'SWi'", "/etc/shadow", "sparse_initializer > sparse indices")


def test_external_data_in_an_if_subgraph_is_refused(tmp_path):
    model = _if_model([_constant(_external(_tensor("deep")), "t")])
    _one(onnx_check.problems(_write(tmp_path, model)),
         "tensor 'deep' stores its data outside the model",
         "node 'if0' (If) > attribute 'then_branch' > graph 'then' > node 'const_t' (Constant)")


def test_external_data_in_a_subgraph_initializer_two_levels_down_is_refused(tmp_path):
    inner = helper.make_graph([helper.make_node("Identity", ["I"], ["t"])], "inner", [], [_vi("t")],
                              initializer=[_external(_tensor("I"), ABSOLUTE)])
    middle_if = helper.make_node("If", ["cond"], ["t"], then_branch=inner, else_branch=inner,
                                 name="if1")
    model = _if_model([middle_if])
    found = onnx_check.problems(_write(tmp_path, model))
    _one(found, "tensor 'I'", ABSOLUTE, "graph 'inner' > initializer")


def test_external_data_in_a_model_function_is_refused(tmp_path):
    body = [_constant(_external(_tensor("F")), "out")]
    func = helper.make_function("local", "MyConst", [], ["out"], body,
                                [helper.make_opsetid("", 13)])
    model = _model([helper.make_node("Relu", ["x"], ["y"])], [_vi("x")], [_vi("y")],
                   functions=[func])
    _one(onnx_check.problems(_write(tmp_path, model)), "tensor 'F'", "function 'MyConst'")


@pytest.mark.parametrize("name", ["PCA", "If"])
def test_every_tensor_onnx_itself_finds_is_checked(tmp_path, honest, name):
    """Cross-check with the onnx package: mark each tensor it walks as external, one at a
    time; the stdlib reader must report exactly that tensor."""
    models, _ = honest
    model = models.get(name) or _if_model([_constant(_tensor("K"), "t")])
    count = len(list(onnx.external_data_helper._get_all_tensors(model)))
    assert count
    for i in range(count):
        copy = onnx.ModelProto()
        copy.CopyFrom(model)
        tensor = list(onnx.external_data_helper._get_all_tensors(copy))[i]
        tensor.data_location = TensorProto.EXTERNAL  # by hand: skl2onnx writes no raw_data
        entry = tensor.external_data.add()
        entry.key, entry.value = "location", "../../etc/passwd"
        found = onnx_check.problems_in_bytes(copy.SerializeToString())
        assert len(found) == 1, found
        _one(found, "tensor '%s' stores its data outside the model" % tensor.name[:60])


def test_many_external_tensors_give_a_bounded_list(tmp_path):
    inits = [_external(_tensor("W%d" % i)) for i in range(50)]
    model = _model([helper.make_node("Relu", ["x"], ["y"])], [_vi("x")], [_vi("y")],
                   initializers=inits)
    found = onnx_check.problems(_write(tmp_path, model))
    assert len(found) == onnx_check.MAX_PROBLEMS + 1
    assert found[-1] == "... and %d more problems" % (50 - onnx_check.MAX_PROBLEMS)


# -- domains -------------------------------------------------------------------------------------

def test_custom_domain_in_opset_import_is_refused(tmp_path):
    model = _model([helper.make_node("Relu", ["x"], ["y"])], [_vi("x")], [_vi("y")],
                   opsets=[("", 13), ("com.evil", 1)])
    found = onnx_check.problems(_write(tmp_path, model))
    assert found == ["custom operator domain 'com.evil' (only '', 'ai.onnx', 'ai.onnx.ml' are "
                     "run), imported by opset_import"]


def test_node_with_a_custom_domain_is_refused(tmp_path):
    nodes = [helper.make_node("Evil", ["x"], ["z"], domain="com.microsoft.evil", name="e1"),
             helper.make_node("Evil", ["z"], ["y"], domain="com.microsoft.evil", name="e2")]
    model = _model(nodes, [_vi("x")], [_vi("y")])  # no opset import for it: still refused
    found = onnx_check.problems(_write(tmp_path, model))
    assert found == ["custom operator domain 'com.microsoft.evil' (only '', 'ai.onnx', "
                     "'ai.onnx.ml' are run), used by node 'e1' (Evil), in graph 'main'"]


def test_custom_domains_in_subgraphs_and_functions_are_refused(tmp_path):
    model = _if_model([helper.make_node("Evil", [], ["t"], domain="com.evil", name="ev")])
    _one(onnx_check.problems(_write(tmp_path, model, "a.onnx")),
         "custom operator domain 'com.evil'", "graph 'then'")
    func = helper.make_function("ai.onnx", "F", ["a"], ["b"],
                                [helper.make_node("Evil", ["a"], ["b"], domain="com.evil2")],
                                [helper.make_opsetid("com.evil3", 1)])
    model = _model([helper.make_node("Relu", ["x"], ["y"])], [_vi("x")], [_vi("y")],
                   functions=[func])
    found = onnx_check.problems(_write(tmp_path, model, "b.onnx"))
    _one(found, "'com.evil2'", "function 'F'")
    _one(found, "'com.evil3'", "imported by opset_import, in function 'F'")


# -- malformed, hostile and oversized files ------------------------------------------------------

def _quick(fn, *args, **kwargs):
    start = time.monotonic()
    found = fn(*args, **kwargs)
    assert time.monotonic() - start < 5, "took too long"
    assert isinstance(found, list) and found and all(isinstance(f, str) for f in found)
    return found


def test_truncated_models_are_refused(tmp_path, honest):
    models, _ = honest
    data = models["LogisticRegression"].SerializeToString()
    for cut in (1, 7, len(data) // 2, len(data) - 1):
        found = _quick(onnx_check.problems, _write(tmp_path, data[:cut], "t%d.onnx" % cut))
        assert found[0].startswith("not a readable ONNX model: "), (cut, found)


@pytest.mark.parametrize("seed", range(5))
def test_random_bytes_are_refused(tmp_path, seed):
    data = random.Random(seed).getrandbits(8 * 4096).to_bytes(4096, "little")
    found = _quick(onnx_check.problems, _write(tmp_path, data))
    assert len(found) == 1 and found[0].startswith("not a readable ONNX model: "), found


@pytest.mark.parametrize("data, text", [
    (b"", "it has no graph"),
    (_varint(1 << 3) + _varint(8), "it has no graph"),                     # ir_version only
    (_varint(7 << 3 | 0) + _varint(1), "field 7 of ModelProto has wire type 0"),
    (_varint(3 << 3 | 3) + _varint(3 << 3 | 4), "unsupported wire type 3"),  # a group
    (_len_field(7, _varint(5 << 3 | 5) + b"\0\0\0\0"), "field 5 of GraphProto has wire type 5"),
    (_varint((1 << 32) + (7 << 3 | 2)) + _varint(0), "field tag beyond 32 bits"),
    (_len_field(7, b"") + b"\x80" * 11, "varint longer than 10 bytes"),
    (_varint(7 << 3 | 2) + _varint(100) + b"short", "runs past its end"),
    (b"\x00\x00", "field number 0"),
], ids=["empty", "no-graph", "wire-mismatch", "group", "nested-wire-mismatch", "tag-over-32-bits",
        "long-varint", "past-end", "field-0"])
def test_malformed_protobuf_is_refused(tmp_path, data, text):
    found = _quick(onnx_check.problems_in_bytes, data)
    assert len(found) == 1 and text in found[0] and found[0].startswith("not a readable"), found


def test_nesting_up_to_the_cap_is_read_and_beyond_it_is_refused(tmp_path):
    assert onnx_check.problems(_write(tmp_path, _nested_graph_model(onnx_check.MAX_DEPTH))) == []
    found = _quick(onnx_check.problems,
                   _write(tmp_path, _nested_graph_model(onnx_check.MAX_DEPTH + 1), "b.onnx"))
    assert found == ["subgraphs nested deeper than 32 levels"]
    assert onnx_check.problems_in_bytes(_nested_graph_model(5), max_depth=4) == [
        "subgraphs nested deeper than 4 levels"]


def test_very_deep_nesting_is_refused_quickly(tmp_path):
    path = _write(tmp_path, _nested_graph_model(20000))
    assert _quick(onnx_check.problems, path) == ["subgraphs nested deeper than 32 levels"]


def test_oversized_file_is_refused_unread(tmp_path):
    path = tmp_path / "huge.onnx"
    with open(str(path), "wb") as fh:
        fh.truncate(onnx_check.MAX_BYTES + 1)  # sparse: no gigabytes written
    found = _quick(onnx_check.problems, path)
    assert found == ["model too large to check: %d bytes (limit %d)"
                     % (onnx_check.MAX_BYTES + 1, onnx_check.MAX_BYTES)]
    small = _write(tmp_path, _add_model(_tensor()), "small.onnx")
    assert onnx_check.problems(small, max_bytes=10)[0].startswith("model too large to check")
    assert onnx_check.problems_in_bytes(small.read_bytes(), max_bytes=10)[0].startswith(
        "model too large to check")


def test_field_budget_is_enforced(tmp_path, honest):
    models, _ = honest
    data = models["Pipeline"].SerializeToString()
    assert onnx_check.problems_in_bytes(data) == []
    assert _quick(onnx_check.problems_in_bytes, data, max_fields=50) == [
        "model too large to check: more than 50 protobuf fields"]


def test_unreadable_paths_are_problems_not_exceptions(tmp_path):
    assert _quick(onnx_check.problems, tmp_path / "missing.onnx")[0].startswith(
        "cannot read the ONNX model: ")
    assert _quick(onnx_check.problems, tmp_path) == [
        "not a readable ONNX model: not a regular file"]
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / "fifo.onnx"
        os.mkfifo(str(fifo))
        assert _quick(onnx_check.problems, fifo) == [
            "not a readable ONNX model: not a regular file"]
    assert _quick(onnx_check.problems, None)[0].startswith("cannot read the ONNX model")
    assert _quick(onnx_check.problems_in_bytes, None)[0].startswith("could not check")
    data, found = onnx_check.read_model(tmp_path / "missing.onnx")
    assert data is None and found


# -- the oldest interpreter of the matrix ----------------------------------------------------------

def test_runs_on_the_oldest_python(tmp_path, honest, oldest_python):
    models, _ = honest
    good = _write(tmp_path, models["Pipeline"], "good.onnx")
    bad = _write(tmp_path, _if_model([_constant(_external(_tensor("deep")), "t")]), "bad.onnx")
    code = ("import sys; from inside.load import onnx_check as c; "
            "print(repr((c.problems(sys.argv[1]), c.problems(sys.argv[2]))))")
    out = subprocess.run([str(oldest_python), "-c", code, str(good), str(bad)], cwd=str(REPO / "harness"),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    assert out.returncode == 0, out.stderr.decode()
    ok, refused = eval(out.stdout.decode())
    assert ok == [] and len(refused) == 1 and "tensor 'deep'" in refused[0]

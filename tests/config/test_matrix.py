"""harness.config.matrix: the repository's matrix.toml, and a corpus of malformed files in tests/data/bad."""

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.config import matrix as matrix_mod
from harness.core.errors import ConfigError
from harness.config.matrix import Known, Tolerance, load, load_all, parse
from harness.config.checks import dotted, suggest
from harness.config.pins import ARCHES

ROOT = Path(__file__).resolve().parents[2]
MATRIX = ROOT / "matrix.toml"
BAD = sorted((Path(__file__).resolve().parents[1] / "data" / "bad").glob("*.toml"))
ID_RE = re.compile(r"^skl(\d+\.\d+\.\d+(\.post\d+)?)-py(3\.\d+)-np(1|2|\d+\.\d+\.\d+)-(amd64|arm64|i386)$")
HEADER_RE = re.compile(r"^(\[\[?)\s*([^\]]+?)\s*\]")
ASSIGN_RE = re.compile(r'^"?([A-Za-z0-9_-]+)"?\s*=')
MINIMAL = '[matrix.default]\nscikit-learn = ["1.3.2"]\npython = ["3.11"]\n'


def annotation(path, name):
    """The value of a `# name: ...` comment at the top of a corpus file."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith(f"# {name}: "):
            return line[len(f"# {name}: "):]
    raise AssertionError(f"{path.name} has no '# {name}:' line")


def split_key(key):
    """'known[1].link' -> ('known.link', 'known', 1); 'matrix.default' -> ('matrix.default', None, None)."""
    found = re.match(r"^([^\[]+)\[(\d+)\](.*)$", key)
    if not found:
        return key, None, None
    return found.group(1) + found.group(3), found.group(1), int(found.group(2))


def line_of(path, key):
    """The line defining a dotted key (`k =` inside its table, or its [header]), searched in the file."""
    full, array, index = split_key(key)
    current, seen = "", {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        header = HEADER_RE.match(text)
        if header:
            current = header.group(2).replace('"', "").replace(" ", "")
            if header.group(1) == "[[":
                seen[current] = seen.get(current, -1) + 1
            if current == full and (index is None or seen.get(current) == index):
                return number
            continue
        assign = ASSIGN_RE.match(text)
        if assign:
            name = f"{current}.{assign.group(1)}" if current else assign.group(1)
            if name == full and (index is None or current == "" or seen.get(array) == index):
                return number
    return None


def expected_line(path, key):
    """The key's line, else the nearest enclosing key's line (a missing key points at its table)."""
    parts = re.findall(r"[^.\[\]]+|\[\d+\]", key)
    for cut in range(len(parts), 0, -1):
        partial = "".join(p if p.startswith("[") or i == 0 else "." + p for i, p in enumerate(parts[:cut]))
        line = line_of(path, partial)
        if line:
            return line
    return None


def load_error(path):
    """The ConfigError that loading a corpus file raises."""
    with pytest.raises(ConfigError) as info:
        load_all(path)
    return info.value


def test_corpus_is_large_and_self_describing():
    assert len(BAD) >= 24
    for path in BAD:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# expect: ") and len(first) > len("# expect: ") + 3, path.name
        annotation(path, "key")
        annotation(path, "mistake")
    mistakes = [annotation(p, "mistake") for p in BAD]
    assert len(set(mistakes)) == len(mistakes)


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_file_gives_one_clear_line(path):
    expect, key = annotation(path, "expect"), annotation(path, "key")
    assert path.read_text(encoding="utf-8").splitlines()[0] == f"# expect: {expect}"
    error = load_error(path)
    message = str(error)
    assert error.exit_code == 2
    assert "\n" not in message and "\r" not in message
    assert message.startswith(str(path))
    assert expect in message
    assert error.line() == message
    if key == "(toml)":
        found = re.match(re.escape(str(path)) + r":(\d+): invalid TOML: ", message)
        assert found, message
        assert 1 <= int(found.group(1)) <= len(path.read_text(encoding="utf-8").splitlines())
        return
    line = expected_line(path, key)
    if line is None:
        assert message.startswith(f"{path}: {key}: "), message
    else:
        assert message.startswith(f"{path}:{line}: {key}: "), message


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_file_same_error_from_parse_and_load(path):
    text = path.read_text(encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        parse(text, "where.toml")
    assert str(info.value) == str(load_error(path)).replace(str(path), "where.toml", 1)
    with pytest.raises(ConfigError):
        load(path, "default")


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_file_cli_exits_2_with_one_line(path):
    proc = subprocess.run([sys.executable, "-m", "harness", "--file", str(path), "list"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"error: {path}")
    assert annotation(path, "expect") in lines[0]
    assert proc.stdout == ""


# The repository's own matrix.toml.

@pytest.fixture(scope="module")
def matrices():
    return load_all(MATRIX)


def test_repo_matrix_parses(matrices):
    assert {"default", "quick"} <= set(matrices)
    for name, m in matrices.items():
        assert m.name == name and m.path == str(MATRIX)
        assert m.envs and m.formats


def test_default_matrix_shape(matrices):
    default = matrices["default"]
    assert len(default.envs) >= 14
    assert sum(env.arch == "arm64" for env in default.envs) >= 3
    pairs = [(a.id, b.id) for a in default.envs for b in default.envs
             if (a.sklearn, a.python, a.arch) == (b.sklearn, b.python, b.arch)
             and (a.numpy, b.numpy) == ("1", "2")]
    assert pairs, "no two environments differ only in the numpy major"
    assert {d.id for d in default.dropped} >= {"skl1.2.2-py3.13-np1-amd64"}
    assert all(d.reason for d in default.dropped)
    assert not {d.id for d in default.dropped} & {e.id for e in default.envs}


def test_quick_matrix(matrices):
    quick = matrices["quick"]
    assert len(quick.envs) == 3
    assert {env.arch for env in quick.envs} == {"amd64"}
    assert len({env.python for env in quick.envs}) == 1
    assert quick.formats == ("pickle", "joblib", "cloudpickle", "skops")


def test_env_ids(matrices):
    for m in matrices.values():
        ids = [env.id for env in m.envs]
        assert len(ids) == len(set(ids))
        for env in m.envs:
            if env.debian:  # the suite's own stack: its id names the suite, and Debian pins scipy
                assert env.id == f"skl{env.sklearn}-py{env.python}-{env.label}-{env.arch}" and env.numpy_pin
                continue
            found = ID_RE.match(env.id)
            assert found, env.id
            assert found.group(1, 3, 4, 5) == (env.sklearn, env.python, env.numpy, env.arch)
            assert env.id == f"skl{env.sklearn}-py{env.python}-np{env.numpy}-{env.arch}"
            assert env.numpy_pin and env.scipy_pin
            if env.numpy in ("1", "2"):
                assert env.numpy_pin.split(".")[0] == env.numpy
            assert m.env(env.id) is env
        with pytest.raises(KeyError):
            m.env("skl0.0.0-py3.11-np1-amd64")


def test_dataclasses_are_frozen(matrices):
    m = matrices["quick"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.name = "other"
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.envs[0].python = "3.9"
    assert isinstance(m.envs, tuple) and isinstance(m.formats, tuple) and isinstance(m.known, tuple)


def test_known_matches(matrices):
    tree = next(k for k in matrices["default"].known if k.estimator == "*Tree*")
    assert tree.matches("skl0.24.2-py3.9-np1-amd64", "skl1.3.2-py3.11-np1-amd64", "pickle", "DecisionTreeClassifier")
    assert not tree.matches("skl0.24.2-py3.9-np1-amd64", "skl1.2.2-py3.11-np1-amd64", "pickle", "DecisionTreeClassifier")
    assert tree.matches("skl1.2.2-py3.11-np1-amd64", "skl1.3.2-py3.11-np1-amd64", "pickle", "DecisionTreeClassifier")
    assert not tree.matches("skl1.3.2-py3.11-np1-amd64", "skl1.6.1-py3.11-np2-amd64", "pickle", "DecisionTreeClassifier")
    assert not tree.matches("skl0.24.2-py3.9-np1-amd64", "skl1.3.2-py3.11-np1-amd64", "pickle", "LogisticRegression")
    known = Known("skl1.*", "*-arm64", "joblib*", "SVC", "why", "https://example.org/")
    assert known.matches("skl1.2.2-py3.11-np1-amd64", "skl1.6.1-py3.11-np2-arm64", "joblib-z", "SVC")
    assert not known.matches("skl1.2.2-py3.11-np1-amd64", "skl1.6.1-py3.11-np2-arm64", "pickle", "SVC")
    assert not known.matches("skl1.2.2-py3.11-np1-amd64", "skl1.6.1-py3.11-np2-arm64", "joblib", "svc")


def test_known_defaults_and_order():
    text = ('[[known]]\nstatus = "load-error"\nreason = "a"\nlink = "https://a.example/"\n\n'
            '[[known]]\nformat = "onnx"\nstatus = ["mismatch", "crash"]\nerror = "Segm"\nreason = "b"\n'
            'link = "http://b.example/x"\n\n' + MINIMAL)
    first, second = parse(text)["default"].known
    assert (first.producer, first.consumer, first.format, first.estimator) == ("*", "*", "*", "*")
    assert (second.format, second.reason, second.status, second.error) == ("onnx", "b", ("mismatch", "crash"), "Segm")


def test_a_known_entry_explains_only_the_outcome_it_expects(matrices):
    tree = next(k for k in matrices["default"].known if k.estimator == "*Tree*")
    args = ("skl1.2.2-py3.11-np1-amd64", "skl1.3.2-py3.11-np1-amd64", "pickle", "DecisionTreeClassifier")
    assert tree.matches(*args)
    load_error = {"status": "load-error", "error": {"type": "ValueError", "message":
                  "node array from the pickle has an incompatible dtype:"}}
    assert tree.explains(load_error)
    assert not tree.explains({"status": "mismatch", "error": None})  # a silent mismatch is no known load failure
    assert not tree.explains(dict(load_error, status="crash"))
    assert not tree.explains(dict(load_error, error={"type": "ModuleNotFoundError", "message": "No module named x"}))
    onnx = next(k for k in matrices["default"].known if k.format == "onnx")
    assert onnx.explains({"status": "mismatch"}) and not onnx.explains({"status": "crash"})


def test_tolerance_for(matrices):
    default = matrices["default"]
    assert default.tolerance_for("onnx") == Tolerance(rtol=1e-4, atol=1e-5)
    for fmt in ("pickle", "joblib-z", "skops"):
        assert default.tolerance_for(fmt) == Tolerance(rtol=1e-7, atol=1e-10)
    m = parse('[tolerances]\natol = 0\n\n[tolerances.skops]\nrtol = 1\n\n' + MINIMAL)["default"]
    assert m.tolerance_for("pickle") == Tolerance(rtol=1e-7, atol=0.0)
    assert m.tolerance_for("skops") == Tolerance(rtol=1.0, atol=0.0)  # atol inherited from [tolerances]
    assert parse(MINIMAL)["default"].tolerance_for("onnx") == Tolerance()


def test_wants_estimator(matrices):
    quick = matrices["quick"]
    assert quick.wants_estimator("LogisticRegression")
    assert quick.wants_estimator("KNeighborsClassifier")
    assert quick.wants_estimator("KNeighborsClassifier-k3")
    assert quick.wants_estimator("Pipeline(StandardScaler,SVC)")
    assert not quick.wants_estimator("LogisticRegressionCV")
    assert not quick.wants_estimator("SVC")
    assert matrices["default"].wants_estimator("anything at all")
    m = parse('[estimators]\ninclude = ["*Regress*"]\nexclude = ["*CV"]\n\n' + MINIMAL)["default"]
    assert m.wants_estimator("LogisticRegression") and not m.wants_estimator("LogisticRegressionCV")
    assert not m.wants_estimator("SVC")


def test_matrix_overrides_and_inherits_top_level():
    text = ('formats = ["pickle", "onnx"]\nbase = "mirror/python:{python}"\n\n'
            '[estimators]\nexclude = ["SVC"]\n\n' + MINIMAL +
            '\n[matrix.other]\nscikit-learn = ["1.6.1"]\npython = ["3.11"]\nformats = ["skops"]\n'
            '\n[matrix.other.estimators]\ninclude = ["SVC"]\n')
    got = parse(text)
    assert got["default"].formats == ("pickle", "onnx") and got["other"].formats == ("skops",)
    assert not got["default"].wants_estimator("SVC") and got["other"].wants_estimator("SVC")
    assert got["other"].base == "mirror/python:{python}"
    assert parse(MINIMAL)["default"].formats == matrix_mod.FORMATS


def test_defaults_numpy_and_arch_and_dedup():
    m = parse('[matrix.default]\nscikit-learn = ["1.6.1"]\npython = ["3.11"]\nnumpy = ["default", "2", "1"]\n')["default"]
    assert [e.id for e in m.envs] == ["skl1.6.1-py3.11-np2-amd64", "skl1.6.1-py3.11-np1-amd64"]
    exact = parse(MINIMAL + 'numpy = ["1.25.2"]\narch = ["arm64"]\n')["default"]
    assert [e.id for e in exact.envs] == ["skl1.3.2-py3.11-np1.25.2-arm64"]
    assert exact.envs[0].numpy_pin == "1.25.2"


def test_dropped_kept_with_reason():
    m = parse('[matrix.default]\nscikit-learn = ["1.3.2"]\npython = ["3.11"]\nnumpy = ["1", "2"]\n')["default"]
    assert [e.id for e in m.envs] == ["skl1.3.2-py3.11-np1-amd64"]
    assert [(d.id, "numpy 2 needs scikit-learn >= 1.4.2" in d.reason) for d in m.dropped] == [
        ("skl1.3.2-py3.11-np2-amd64", True)]


def test_include_exclude_globs():
    text = ('[matrix.default]\nscikit-learn = ["1.4.2", "1.6.1"]\npython = ["3.11", "3.12"]\n'
            'arch = ["amd64", "arm64"]\ninclude = ["*-py3.11-*", "skl1.6.1-*"]\nexclude = ["*-arm64"]\n')
    ids = [e.id for e in parse(text)["default"].envs]
    assert ids == ["skl1.4.2-py3.11-np1-amd64", "skl1.6.1-py3.11-np2-amd64", "skl1.6.1-py3.12-np2-amd64"]


def test_load_names_the_matrix(tmp_path):
    assert load(MATRIX, "quick").name == "quick"
    with pytest.raises(ConfigError, match=r"no matrix named 'quik'; did you mean 'quick'\?; have: default, full, quick"):
        load(MATRIX, "quik")
    with pytest.raises(ConfigError, match=r"cannot read"):
        load_all(tmp_path / "absent.toml")


def test_suggestions():
    assert suggest("formts", matrix_mod.TOP_KEYS) == "; did you mean 'formats'?"
    assert suggest("scikit_learn", matrix_mod.MATRIX_KEYS) == "; did you mean 'scikit-learn'?"
    assert suggest("x86_64", ARCHES) == "; did you mean 'amd64'?"
    assert suggest("aarch64", ARCHES) == "; did you mean 'arm64'?"
    assert suggest("arm", ARCHES) == "; did you mean 'arm64'?"
    assert suggest("x86_64", ("pickle",)) == ""
    assert suggest("zzzz", matrix_mod.TOP_KEYS) == ""
    assert suggest("1.3.3", ["1.2.2", "1.3.2", "1.4.2"]) == "; did you mean '1.3.2'?"


def test_dotted():
    assert dotted(("matrix", "quick", "arch")) == "matrix.quick.arch"
    assert dotted(("known", 2, "link")) == "known[2].link"
    assert dotted(()) == ""


def test_line_finder_of_test_agrees_on_repo_file():
    """The search used above finds real keys of matrix.toml where the parser's locator does."""
    from harness.config.checks import Checker

    check = Checker(MATRIX.read_text(encoding="utf-8"), str(MATRIX))
    for keypath in (("formats",), ("tolerances", "onnx", "rtol"), ("known", 1, "link"),
                    ("matrix", "quick", "estimators", "include"), ("matrix", "default", "include")):
        assert check.line_of(keypath) == line_of(MATRIX, dotted(keypath)), keypath


def test_the_default_matrix_keeps_the_hand_catalogue_and_full_has_every_estimator_and_minor(matrices):
    assert matrices["default"].catalogue == "hand" and matrices["full"].catalogue == "all"
    full, default = [e.id for e in matrices["full"].envs], [e.id for e in matrices["default"].envs]
    assert set(default) <= set(full)  # the nightly covers every environment of the default, and more
    minors = {e.sklearn.rsplit(".", 1)[0] for e in matrices["full"].envs}
    assert {"0.24", "1.0", "1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.7", "1.8", "1.9"} <= minors
    assert matrices["quick"].catalogue == "all"

"""Bad input, case by case: one line that says what to do, the exit code of its kind, and every file
already computed left as it was."""

import hashlib
import json
import os
import subprocess
import sys

import pytest

from conftest import DATA, REPO
from harness.results import file as results_file
from harness.inside.schema import SCHEMA_VERSION

BAD = DATA / "bad"
TWO = DATA / "two-envs.toml"
PRODUCER = "skl1.3.2-py3.11-np1-amd64"
CONSUMER = "skl1.6.1-py3.11-np2-amd64"
RESULT_LINE = {"schema": SCHEMA_VERSION, "key": "k1", "producer": PRODUCER, "consumer": CONSUMER,
               "estimator": "LogisticRegression", "format": "pickle", "status": "identical"}


def _computed_tree(root):
    """A results tree of the `two` matrix with a finished dump, one result line and a results file."""
    tree = root / "reports" / "two"
    model = tree / "artifacts" / PRODUCER / "LogisticRegression" / "model.pkl"
    model.parent.mkdir(parents=True)
    model.write_bytes(b"\x80\x04N." * 64)  # stand-in bytes: only hashed, never loaded here
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    manifest = {"schema": SCHEMA_VERSION, "producer": PRODUCER, "estimators": [
        {"name": "LogisticRegression", "status": "ok",
         "formats": {"pickle": {"status": "ok", "file": "LogisticRegression/model.pkl", "sha256": digest}}}]}
    (tree / "artifacts" / PRODUCER / "manifest.json").write_text(json.dumps(manifest))
    (tree / "cells").mkdir()
    (tree / "cells" / f"{CONSUMER}.jsonl").write_text(json.dumps(RESULT_LINE) + "\n")
    results_file.write(tree / results_file.NAME, {"schema": results_file.RESULTS_SCHEMA, "cells": [RESULT_LINE]})
    return tree


def _old_schema(path):
    results_file.write(path, {"schema": 0, "cells": []})


def _truncate(tree):
    model = tree / "artifacts" / PRODUCER / "LogisticRegression" / "model.pkl"
    model.write_bytes(model.read_bytes()[:10])


def _old_schema_tree(tmp):
    other = tmp / "other-machine" / "two"
    (other / "cells").mkdir(parents=True)
    _old_schema(other / results_file.NAME)


# (id, setup(tree, tmp) -> extra args or None, command, env, exit code, words in the line, what to do)
CASES = [
    ("toml-syntax", None, ["--file", BAD / "toml_unterminated_list.toml", "list"], {}, 2, "invalid TOML", ":"),
    ("top-key-typo", None, ["--file", BAD / "top_key_typo.toml", "list"], {}, 2, "unknown key", "did you mean"),
    ("format-typo", None, ["--file", BAD / "format_typo.toml", "list"], {}, 2, "unknown", "did you mean"),
    ("axis-not-list", None, ["--file", BAD / "axis_string.toml", "list"], {}, 2, "list", ":"),
    ("unknown-sklearn", None, ["--file", BAD / "sklearn_unknown_version.toml", "list"], {}, 2,
     "unknown scikit-learn version '1.3.3'", "did you mean '1.3.2'"),
    ("no-wheels", None, ["--file", BAD / "everything_dropped.toml", "list"], {}, 2, "every environment was dropped",
     "no wheels"),
    ("excluded-all", None, ["--file", BAD / "everything_excluded.toml", "list"], {}, 2,
     "the matrix is empty after include/exclude", "matrix.default"),
    ("negative-tolerance", None, ["--file", BAD / "tolerance_negative.toml", "list"], {}, 2, "tolerances", ":"),
    ("known-no-link", None, ["--file", BAD / "known_missing_link.toml", "list"], {}, 2, "missing 'link'", "known[1]"),
    ("known-no-status", None, ["--file", BAD / "known_missing_status.toml", "list"], {}, 2, "missing 'status'",
     "which outcome it expects"),
    ("known-passing-status", None, ["--file", BAD / "known_passing_status.toml", "list"], {}, 2,
     "unknown value 'identical'", "allowed: uncompared, mismatch"),
    ("known-error-not-regex", None, ["--file", BAD / "known_error_not_regex.toml", "list"], {}, 2,
     "not a regular expression", "known[0].error"),
    ("unknown-python", None, ["--file", BAD / "python_unknown.toml", "list"], {}, 2, "python", ":"),
    ("missing-file", None, ["--file", "nowhere/matrix.toml", "list"], {}, 2, "cannot read", "nowhere/matrix.toml"),
    ("unknown-matrix", None, ["--file", TWO, "list", "--matrix", "tow"], {}, 2, "no matrix named 'tow'",
     "did you mean 'two'"),
    ("unknown-verb", None, ["frobnicate"], {}, 64, "invalid choice", "--help"),
    ("bad-jobs", None, ["--file", TWO, "load", "--jobs", "many"], {}, 64, "invalid int value", "--help"),
    ("unknown-env-resolve", None, ["--file", TWO, "resolve", "--matrix", "two", "skl1.3.2-py3.11-np1-amd46"], {}, 3,
     "no environment of matrix 'two'", "did you mean 'skl1.3.2-py3.11-np1-amd64'"),
    ("unknown-env-dump", None, ["--file", TWO, "dump", "--matrix", "two", "skl9*"], {}, 3,
     "no environment of matrix 'two' matches 'skl9*'", "`python -m harness list` shows the ids"),
    ("bad-shard", None, ["--file", TWO, "load", "--matrix", "two", "--shard", "3/2"], {}, 3, "bad --shard '3/2'",
     "e.g. 1/4"),
    ("run-with-ids", None, ["--file", TWO, "run", "--matrix", "two", CONSUMER], {}, 3, "`run` covers the whole matrix",
     "use dump/load"),
    ("merge-not-a-tree", None, ["--file", TWO, "merge", "--matrix", "two", "no-such-folder"], {}, 3,
     "is not a results tree folder", "reports/<matrix>"),
    ("engine-down-load", None, ["--file", TWO, "load", "--matrix", "two", "--backend", "docker"],
     {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}, 4, "no container engine answers", "setup-engine.sh"),
    ("engine-down-build", None, ["--file", TWO, "build", "--matrix", "two", "--backend", "docker"],
     {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}, 4, "no container engine answers", "--backend venv"),
    ("report-old-schema", lambda tree, tmp: _old_schema(tree / results_file.NAME),
     ["--file", TWO, "report", "--matrix", "two"], {}, 8, "has schema 0", "move it away"),
    ("previous-old-schema", lambda tree, tmp: _old_schema(tree / results_file.PREVIOUS),
     ["--file", TWO, "report", "--matrix", "two"], {}, 8, "previous-results.json.gz has schema 0", "move it away"),
    ("merge-old-schema", lambda tree, tmp: _old_schema_tree(tmp),
     ["--file", TWO, "merge", "--matrix", "two", "other-machine/two"], {}, 8, "has schema 0", "rerun"),
    ("truncated-artifact", lambda tree, tmp: _truncate(tree), ["--file", TWO, "load", "--matrix", "two"], {}, 9,
     "model.pkl is missing, truncated or changed since its dump", f"dump --matrix two {PRODUCER}` again"),
    ("deleted-artifact", lambda tree, tmp: (tree / "artifacts" / PRODUCER / "LogisticRegression" / "model.pkl").unlink(),
     ["--file", TWO, "load", "--matrix", "two"], {}, 9, "is missing, truncated or changed", "made anew"),
]


def _snapshot(root):
    """{path: sha256} of every file under root."""
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()}


def _run(args, cwd, env):
    command = [sys.executable, "-m", "harness", *map(str, args)]
    return subprocess.run(command, cwd=cwd, env=dict(os.environ, PYTHONPATH=str(REPO), **env),
                          capture_output=True, text=True, timeout=120)


def _one_line(proc):
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input(case, tmp_path):
    _, setup, args, env, code, words, todo = case
    tree = _computed_tree(tmp_path)
    if setup:
        setup(tree, tmp_path)
    before = _snapshot(tmp_path)
    proc = _run(args, tmp_path, {"SKLMATRIX_CACHE": str(tmp_path / "cache"), **env})
    line = _one_line(proc)
    assert proc.returncode == code, (proc.returncode, line)
    assert line.startswith("error: ") and words in line and todo in line, line
    after = _snapshot(tmp_path)
    changed = [str(p) for p, digest in before.items() if after.get(p) != digest]
    assert changed == [], "computed files were lost or changed"


def test_every_kind_has_its_own_exit_code():
    codes = {case[4] for case in CASES}
    assert codes == {2, 3, 4, 8, 9, 64} and len(CASES) >= 25
    from harness.core import errors

    kinds = [cls for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, errors.HarnessError)
             and cls is not errors.HarnessError]
    assert len({cls.exit_code for cls in kinds}) == len(kinds)  # no two kinds share a code


def test_no_wheels_for_a_pin_exits_5(tmp_path):
    # A numpy pin that PyPI does not have: pip's reason, the lock of no environment written.
    path = tmp_path / "matrix.toml"
    path.write_text(TWO.read_text().replace('arch = ["amd64"]', 'arch = ["amd64"]\nnumpy = ["1.26.99"]'))
    tree = _computed_tree(tmp_path)
    before = _snapshot(tree)
    proc = _run(["--file", path, "resolve", "--matrix", "two"], tmp_path, {"SKLMATRIX_CACHE": str(tmp_path / "cache")})
    line = _one_line(proc)
    assert proc.returncode == 5, line
    assert "2 of 2 environments have no wheels" in line and "numpy==1.26.99" in line and "check the pins" in line
    assert _snapshot(tree) == before


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root")
def test_too_little_disk_exits_7(tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)], check=True)
    try:
        proc = _run(["--file", TWO, "resolve", "--matrix", "two"], tmp_path, {"SKLMATRIX_CACHE": str(small)})
        line = _one_line(proc)
        assert proc.returncode == 7, line
        assert "MiB free in" in line and "set SKLMATRIX_CACHE to a larger disk" in line
        assert not any(small.rglob("*.whl"))
    finally:
        subprocess.run(["umount", str(small)], check=True)

"""The comparison tools of tools/ (used to show a renovation changed no outcome) can tell a difference."""

import subprocess
import sys
from pathlib import Path

from harness.report import render
from harness.results import file as results_file
from test_report import cell, results_of

REPO = Path(__file__).resolve().parent.parent
P, C = "skl1.3.2-py3.11-np1-amd64", "skl1.5.2-py3.11-np1-amd64"


def _tool(name, *args):
    return subprocess.run([sys.executable, str(REPO / "tools" / name), *map(str, args)], capture_output=True, text=True)


def _results(tmp_path, name, status, message="numpy._core"):
    error = {"type": "ModuleNotFoundError", "message": message}
    cells = [cell(P, C, "LogisticRegression", status, error=error), cell(P, C, "SVC", "identical", max_abs=0.0)]
    path = tmp_path / name / results_file.NAME
    path.parent.mkdir()
    results_file.write(path, results_of(cells))
    return path


def test_compare_results_tells_an_outcome_apart_and_ignores_onnx_graph_names(tmp_path):
    same = _tool("compare_results.py", _results(tmp_path, "a", "load-error"), _results(tmp_path, "b", "load-error"))
    assert same.returncode == 0 and "different: 0" in same.stdout and "load-error 1" in same.stdout
    other = _tool("compare_results.py", _results(tmp_path, "c", "load-error"), _results(tmp_path, "d", "crash"))
    assert other.returncode == 1 and "different: 1" in other.stdout
    graph = "graph '%s' is bad"
    named = _tool("compare_results.py", _results(tmp_path, "e", "load-error", graph % ("a" * 32)),
                  _results(tmp_path, "f", "load-error", graph % ("b" * 32)))
    assert named.returncode == 0


def test_compare_pages_tells_the_data_apart(tmp_path):
    pages = [render.render(_results(tmp_path, name, status).parent).html
             for name, status in (("a", "load-error"), ("b", "load-error"), ("c", "crash"))]
    same = _tool("compare_pages.py", pages[0], pages[1])
    assert same.returncode == 0 and "data equal apart from the format: True" in same.stdout
    assert _tool("compare_pages.py", pages[0], pages[2]).returncode == 1


def test_variant_breaks_finds_a_variant_that_fails_where_its_base_survives(tmp_path):
    error = {"type": "ValueError", "message": "feature names should match"}
    cells = [cell(P, C, "Ridge", "identical", max_abs=0.0), cell(P, C, "Ridge.frame", "predict-error", error=error),
             cell(P, C, "SVC", "load-error", error=error), cell(P, C, "SVC.frame", "load-error", error=error)]
    path = tmp_path / "v" / results_file.NAME
    path.parent.mkdir()
    results_file.write(path, results_of(cells))
    out = _tool("variant_breaks.py", path)
    assert out.returncode == 0, out.stderr
    assert "failing where the base survives: 1" in out.stdout and "feature names should match" in out.stdout
    assert "SVC" not in out.stdout  # both fail: not a break of the variant
    bases = tmp_path / "b" / results_file.NAME  # the base cells from another run
    bases.parent.mkdir()
    results_file.write(bases, results_of([cell(P, C, "SVC", "identical", max_abs=0.0)]))
    out = _tool("variant_breaks.py", path, bases)
    assert out.returncode == 0 and "failing where the base survives: 2" in out.stdout, out.stdout + out.stderr

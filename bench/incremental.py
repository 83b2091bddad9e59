"""What adding one environment to an N-environment matrix costs, against running the whole matrix."""

import dataclasses
import tempfile
import time

from harness.results import cells as cells_mod
from harness.workflow import Run


def _whole(matrix, reports):
    """(seconds, cells computed) of a whole run of matrix in reports."""
    run = Run(matrix, backend="docker", reports=reports)
    before = _lines(run)
    start = time.perf_counter()
    run.everything()
    return time.perf_counter() - start, _lines(run) - before


def _lines(run):
    return sum(cells_mod.count_lines(path) for env in run.matrix.envs for path in run.tree.result_files(env.id))


def measure(matrix):
    """Seconds and cells of the full N-environment run and of adding the N-th to the other N-1."""
    n = len(matrix.envs)
    smaller = dataclasses.replace(matrix, envs=matrix.envs[:-1])
    with tempfile.TemporaryDirectory() as full, tempfile.TemporaryDirectory() as grown:
        full_seconds, full_cells = _whole(matrix, full)
        _whole(smaller, grown)  # the N-1 matrix, already computed
        added_seconds, added_cells = _whole(matrix, grown)
    expected = (2 * n - 1) / n ** 2
    return {"n": n, "added": matrix.envs[-1].id, "full_seconds": round(full_seconds, 1), "full_cells": full_cells,
            "added_seconds": round(added_seconds, 1), "added_cells": added_cells,
            "time_ratio": round(added_seconds / full_seconds, 3), "cells_ratio": round(added_cells / full_cells, 3),
            "goal_ratio": round(expected, 3)}

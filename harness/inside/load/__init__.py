"""Load every cell of a task file, each in a forked child, and write one record per cell to the
loader's own stdout, which no child can reach: python -m inside.load --tasks ...

The loader judges nothing: each record carries the child's raw outputs (.npy bytes) for the
host to compare with the producer's; identity comes from the task, never from the child.
"""

import argparse
import importlib
import json
import os
import sys
import tempfile
import time
import warnings

from . import isolate, rehearsal
from .. import schema
from ..files import sha256_file

REQUIRED = ("key", "format", "file", "sha256", "task", "input_sha256")
MAX_LOG = 1 << 16  # bytes of a dead child's stderr kept as evidence


class BadTasks(Exception):
    """The task file cannot be used; the message says why."""


def read_tasks(path):
    """The task file (written by the host), with every cell carrying the keys the loader needs."""
    try:
        with open(path) as fh:
            tasks = json.load(fh)
        schema.check_schema(tasks, path)
    except (OSError, ValueError) as exc:
        raise BadTasks("cannot use %s: %s" % (path, exc))
    cells = tasks.get("cells")
    if not isinstance(cells, list):
        raise BadTasks("%s has no list of cells" % path)
    for i, cell in enumerate(cells):
        missing = [k for k in REQUIRED if not isinstance(cell, dict) or k not in cell]
        if missing:
            raise BadTasks("cell %d of %s lacks %s" % (i, path, ", ".join(missing)))
    return tasks


class Channel(object):
    """The loader's results: its stdout, moved to a descriptor children never inherit; fd 1
    itself then points at stderr, so a library's stray print cannot break a record."""

    def __init__(self):
        self.fd = os.dup(1)
        os.dup2(2, 1)

    def send(self, record):
        data = (json.dumps(record, allow_nan=True, default=str) + "\n").encode("utf-8")
        while data:
            data = data[os.write(self.fd, data):]


USER_TASK = "user"  # a user's own file (python -m harness check): its sample, or generated rows


def _user_input(cell, artifacts):
    """The rows of a user's sample (.npy, never a pickle), checked against the host's hash; None
    when there is none (rows are then made to the loaded model's fitted shape)."""
    import numpy as np
    from .. import data
    sample = cell.get("sample")
    if not sample:
        return data.UserDataset(None)
    path = os.path.join(artifacts, sample)
    if sha256_file(path) != cell["input_sha256"]:
        raise ValueError("the sample changed since the host wrote it")
    return data.UserDataset(np.load(path, allow_pickle=False))


def _input(task, expected_hash, hashes):
    """The dataset of a task (its prediction inputs), checked against the producer's hash of it."""
    from .. import data
    if task not in data.TASKS:
        raise ValueError("task %r is unknown to this harness's data.py" % task)
    if task not in hashes:
        hashes[task] = data.task_hash(task)
    if hashes[task] != expected_hash:
        raise ValueError("the prediction input of task %r differs from the producer's "
                         "(input_sha256 of outputs.json)" % task)
    return data.dataset(task)


_IMPORTED = {}  # module -> warnings its first import raised, replayed for every cell


def preload(path, fmt, allowed):
    """Import the modules an artifact names that are on the host's exact list (derived from
    honest reference dumps); returns the warnings their first import raised."""
    from . import scan
    caught_all = []
    for name in sorted(n for n in scan.artifact_modules(path, fmt) if n in allowed):
        if name not in _IMPORTED:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    importlib.import_module(name)
                except Exception:  # noqa: BLE001 - e.g. a moved private module: the child says
                    pass
            _IMPORTED[name] = list(caught)
        caught_all.extend(_IMPORTED[name])
    return caught_all


def evaluate(cell, path, ds, trusted, imported):
    """In the child: load, call every method, return the raw outputs as JSON bytes."""
    from . import loaders

    out = {"load": "ok", "error": None, "warnings": loaders.warning_records(imported),
           "trusted": None}
    try:
        if cell["format"] != "onnx" and not loaders.public_class_exists(cell.get("class")):
            import sklearn
            return _dumps({"na": "scikit-learn %s has no %s" % (
                sklearn.__version__, str(cell.get("class")).split(".")[-1][:100])})
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                model, out["trusted"] = loaders.load(cell["format"], path, trusted)
            except MemoryError:
                raise
            except loaders.Refused as exc:
                out.update(load="refused", error=loaders.error_record(exc), trusted=exc.types)
                return _dumps(out)
            except BaseException as exc:  # noqa: BLE001 - SystemExit from a pickle is a finding
                out.update(load="error", error=loaders.error_record(exc))
                out["warnings"] += loaders.warning_records(caught)
                return _dumps(out)
            out["warnings"] += loaders.warning_records(caught)
            del caught[:]
            if cell["format"] != "onnx":
                from .. import state
                out["state"] = state.digest(model)  # before any call: the state as loaded
            if not ds.inputs:
                ds, out["input"] = _generated(model, cell["format"])
            try:
                out.update(loaders.outputs(model, cell["format"], ds))
            except MemoryError:
                raise
            except Exception as exc:  # noqa: BLE001 - the graph did not run at all
                out.update(load="predict-error", error=loaders.error_record(exc))
            out["predict_warnings"] = loaders.warning_records(caught)
    except MemoryError:
        # Out of memory is a crash whether Python raises it or the kernel kills: one outcome.
        out.update(load="memory", error={"type": "MemoryError", "message": (
            "out of memory: the cell exceeded its address-space limit (--memory)")})
        out.pop("methods", None)
        out.pop("graph", None)
    return _dumps(out)


def _generated(model, fmt):
    """(dataset, description) of rows made to a loaded model's fitted shape: n_features_in_, or
    the ONNX graph's input width; no rows when neither says."""
    from .. import data
    width = None
    try:
        if fmt == "onnx":
            shape = model.get_inputs()[0].shape
            width = shape[1] if len(shape) == 2 and isinstance(shape[1], int) else None
        else:
            width = getattr(model, "n_features_in_", None)
    except Exception:  # noqa: BLE001 - a property that raises: no width
        width = None
    if not isinstance(width, int) or not 0 < width <= 100000:
        return data.UserDataset(None), {"generated": False, "why": "the model records no input width: give --sample"}
    rows = data.rows_for(width)
    return data.UserDataset(rows), {"generated": True, "rows": int(rows.shape[0]), "features": width}


def _dumps(record):
    return json.dumps(record, allow_nan=True, default=str).encode("utf-8")


def _log_tail(fd):
    size = os.fstat(fd).st_size
    return os.pread(fd, MAX_LOG, max(0, size - MAX_LOG)).decode("utf-8", "replace")


def run_cell(i, cell, options, ctx):
    """The record of one cell, whatever happens to it."""
    from . import loaders
    from .. import data
    record = {"event": "cell", "i": i, "key": cell["key"], "na": None, "error": None,
              "child": None, "outcome": None, "log": None}
    reason = loaders.missing_library(cell["format"])
    if reason:
        record["na"] = reason
        return record
    path = os.path.join(options.artifacts, cell["file"])
    try:
        if sha256_file(path) != cell["sha256"]:
            record["error"] = {"type": "ArtifactChanged", "message": "artifact changed since "
                               "dump: its sha256 is not the one in the task file"}
            return record
        if cell["task"] == USER_TASK:
            ds = _user_input(cell, options.artifacts)
        else:
            ds = _input(cell["task"], cell["input_sha256"], ctx["hashes"])
    except data.Unavailable as exc:  # a DataFrame cell where pandas does not import
        record["na"] = str(exc)
        return record
    except (OSError, ValueError, KeyError) as exc:
        record["error"] = loaders.error_record(exc)
        return record
    imported = preload(path, cell["format"], ctx["preload"])
    log_fd = ctx["log"]
    os.ftruncate(log_fd, 0)
    os.lseek(log_fd, 0, os.SEEK_SET)
    payload, outcome = isolate.run(
        lambda: evaluate(cell, path, ds, ctx["trusted"], imported),
        options.timeout, options.memory, log_fd, ctx["whole_container"])
    record["outcome"] = outcome
    if payload is None:
        record["log"] = _log_tail(log_fd)
    else:
        record["child"] = payload.decode("utf-8", "replace")
    return record


def main(argv=None):
    """Command line entry point: 0 when every cell has its record, 2 on bad usage or tasks."""
    parser = argparse.ArgumentParser(prog="python -m inside.load", description=__doc__)
    parser.add_argument("--tasks", required=True, help="TASKS.json written by the host")
    parser.add_argument("--artifacts", required=True, help="folder the cells' paths start in")
    parser.add_argument("--timeout", type=float, default=float(schema.CELL_TIMEOUT), help="seconds per cell")
    parser.add_argument("--memory", type=int, default=schema.CELL_MEMORY,
                        help="address-space limit of each cell in bytes (0: none)")
    parser.add_argument("--require-init", action="store_true",
                        help="refuse to run unless this is PID 1 (the container sandbox)")
    parser.add_argument("--no-rehearsal", action="store_true",
                        help="fork the first cell without rehearsing a cell's path first (benchmarks, tests)")
    options = parser.parse_args(argv)
    isolate.limit_threads_env()  # before anything imports numpy
    channel = Channel()
    missing = isolate.protect_loader()
    whole_container = isolate.is_container_init()
    if options.require_init and not whole_container:
        sys.stderr.write("inside.load: not PID 1 of a container: cells could outlive their turn\n")
        return 2
    try:
        tasks = read_tasks(options.tasks)
    except BadTasks as exc:
        sys.stderr.write("inside.load: %s\n" % exc)
        return 2
    isolate.warm_up()
    cells = tasks["cells"]
    log = tempfile.TemporaryFile()  # the cells' stderr, read back when one crashes
    ctx = {"hashes": {}, "preload": frozenset(tasks.get("preload") or ()), "log": log.fileno(),
           "trusted": frozenset(tasks.get("skops_trusted") or ()), "whole_container": whole_container}
    rehearsed = {"done": False, "why": "--no-rehearsal"} if options.no_rehearsal else rehearsal.rehearse(
        evaluate, ctx["trusted"], options.timeout, options.memory, ctx["log"], whole_container)
    channel.send({"event": "ready", "schema": schema.SCHEMA_VERSION, "cells": len(cells), "rehearsal": rehearsed,
                  "unprotected": missing, "whole_container": whole_container,
                  "broken": dict(isolate.BROKEN)})
    start = last = time.time()
    for i, cell in enumerate(cells):
        t0 = time.time()
        try:
            record = run_cell(i, cell, options, ctx)
        except Exception as exc:  # noqa: BLE001 - a harness bug costs one cell, not the run
            from .loaders import error_record
            record = {"event": "cell", "i": i, "key": cell["key"], "na": None, "child": None,
                      "outcome": None, "log": None, "error": error_record(exc, "HarnessError")}
        record["seconds"] = round(time.time() - t0, 4)
        channel.send(record)
        if (i + 1) % 50 == 0 or time.time() - last >= 5 or i + 1 == len(cells):
            last = time.time()
            sys.stderr.write("inside.load: %d/%d cells, %.1f cells/s\n" % (
                i + 1, len(cells), (i + 1) / max(last - start, 1e-9)))
            sys.stderr.flush()
    channel.send({"event": "done", "cells": len(cells)})
    return 0


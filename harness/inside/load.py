"""Load every cell of a task file, each in a forked child: python -m inside.load --tasks ..."""

import argparse
import json
import os
import signal
import sys
import tempfile
import time
import warnings

from . import isolate, schema
from .files import sha256_file
from .schema import Status

DEFAULT_MEMORY = 2 << 30
REQUIRED = ("key", "producer", "estimator", "format", "file", "outputs", "sha256")


class BadTasks(Exception):
    """The task file cannot be used; the message says why."""


def read_tasks(path):
    """The task file, with every cell carrying the keys the loader needs."""
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


def open_results(path):
    """An append-only fd; a partial last line left by a killed run is cut off first, so the
    next line does not glue onto it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    size = os.fstat(fd).st_size
    with open(path, "rb") as fh:
        fh.seek(max(0, size - (1 << 20)))
        tail = fh.read()
    if tail and not tail.endswith(b"\n"):
        cut = tail.rfind(b"\n")
        os.ftruncate(fd, size - len(tail) + cut + 1 if cut >= 0 else 0)
    return fd


def write_line(fd, record):
    """One JSON line in one write, then fsync: a finished cell survives a kill of the run."""
    os.write(fd, (json.dumps(record, allow_nan=True, default=str) + "\n").encode("utf-8"))
    os.fsync(fd)


class Context(object):
    """What the parent reads once and every child inherits: outputs, inputs, tolerances."""

    def __init__(self, tasks, artifacts):
        from . import data
        self.data, self.artifacts = data, artifacts
        self.tolerances = tasks.get("tolerances") or {}
        self._outputs, self._hashes = {}, {}

    def tolerance(self, fmt):
        tol = self.tolerances.get(fmt) or self.tolerances.get("default") or {}
        return float(tol.get("rtol", 1e-7)), float(tol.get("atol", 1e-10))

    def outputs(self, rel):
        """The producer's outputs.json (cached: seven formats share one)."""
        if rel not in self._outputs:
            if len(self._outputs) > 16:
                self._outputs.clear()
            with open(os.path.join(self.artifacts, rel)) as fh:
                record = json.load(fh)
            schema.check_schema(record, rel)
            self._outputs[rel] = record
        return self._outputs[rel]

    def input_for(self, task, expected_hash):
        """The prediction input of a task, checked against the producer's hash of it."""
        if task not in self.data.TASKS:
            raise ValueError("task %r is unknown to this harness's data.py" % task)
        if task not in self._hashes:
            self._hashes[task] = self.data.task_hash(task)
        if self._hashes[task] != expected_hash:
            raise ValueError("the prediction input of task %r differs from the producer's "
                             "(input_sha256 of outputs.json)" % task)
        return self.data.dataset(task).X_pred


def evaluate(cell, path, expected, X, tol, import_warnings):
    """In the child: load, call every method the producer had output for, compare."""
    from . import compare, loaders
    from .compare import error_record, warning_records

    fmt, methods = cell["format"], expected["methods"]
    wanted = dict((m, r["shape"]) for m, r in methods.items() if "error" not in r)
    # Warnings the producer's own predictions raised (log of zero...) are not findings.
    skip = set(t for r in methods.values() for t in r.get("warnings", ()))
    out = {"status": Status.LOAD_ERROR, "max_abs": None, "max_rel": None, "methods": {},
           "warnings": list(import_warnings), "error": None, "untrusted": None}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                model = loaders.load(fmt, path, cell.get("untrusted"), out)
            except MemoryError:
                raise
            except loaders.Refused as exc:
                out.update(status=Status.REFUSED, error=error_record(exc), untrusted=exc.types)
                return out
            except BaseException as exc:  # noqa: BLE001 - SystemExit from a pickle is a finding
                out["error"] = error_record(exc)
                out["warnings"] += warning_records(caught)
                return out
            out["warnings"] += warning_records(caught)
            del caught[:]
            try:
                calls = loaders.predict(model, fmt, X, wanted)
            except MemoryError:
                raise
            except Exception as exc:  # noqa: BLE001
                calls = dict((m, ("error", exc)) for m in wanted)
            out["warnings"] += warning_records(caught, skip)
    except MemoryError:
        # Out of memory is a crash whether Python raises it or the kernel kills: one outcome.
        out.update(status=Status.CRASH, error={"type": "MemoryError", "message": (
            "out of memory: the cell exceeded its address-space limit (--memory)")})
        return out
    for method, (kind, value) in calls.items():
        rec = {"status": kind, "max_abs": None, "max_rel": None, "detail": str(value)[:300]}
        if kind == "ok":
            try:
                rec = compare.compare(value, methods[method], *tol)
            except Exception as exc:  # noqa: BLE001 - an output that cannot be compared at all
                rec.update(status=compare.MISMATCH, detail="cannot compare: %(type)s: "
                           "%(message)s" % error_record(exc))
        elif kind == compare.ERROR:
            rec["detail"] = "%(type)s: %(message)s" % error_record(value)
            out["error"] = out["error"] or error_record(value)
        elif fmt != "onnx":  # a method gone from the class (ONNX graphs simply lack some)
            out["error"] = out["error"] or {"type": "AttributeError", "message": rec["detail"]}
        out["methods"][method] = rec
    out["status"], out["max_abs"], out["max_rel"] = compare.verdict(
        out["methods"], out["warnings"], missing_counts=fmt != "onnx")
    return out


def base_line(cell, consumer):
    """A result line with every field, before anything is known."""
    line = dict((k, cell.get(k)) for k in ("key", "producer", "estimator", "format"))
    line.update(schema=schema.SCHEMA_VERSION, consumer=consumer, status=Status.LOAD_ERROR,
                max_abs=None, max_rel=None, methods={}, warnings=[], error=None, signal=None,
                exit_code=None, untrusted=None)
    return line


def run_cell(cell, ctx, options, log_fd, close_fds):
    """The result line of one cell, whatever happens to it."""
    from . import loaders
    from .compare import error_record, failure, warning_records

    fmt, line = cell["format"], base_line(cell, options.consumer)
    reason = loaders.not_applicable(cell)
    if reason:
        line.update(status=Status.NOT_APPLICABLE, error={"type": "NotApplicable",
                                                         "message": reason})
        return line
    path = os.path.join(ctx.artifacts, cell["file"])
    try:
        if sha256_file(path) != cell["sha256"]:
            line["error"] = {"type": "ArtifactChanged", "message": "artifact changed since "
                             "dump: its sha256 is not the one in the task file"}
            return line
        expected = ctx.outputs(cell["outputs"])
        X = ctx.input_for(cell.get("task") or expected.get("task"), expected.get("input_sha256"))
    except (OSError, ValueError, KeyError) as exc:
        line["error"] = error_record(exc)
        return line
    imported = warning_records(isolate.preload(path, fmt))
    os.ftruncate(log_fd, 0)
    os.lseek(log_fd, 0, os.SEEK_SET)
    result, outcome = isolate.run(
        lambda: evaluate(cell, path, expected, X, ctx.tolerance(fmt), imported),
        options.timeout, options.memory, log_fd, close_fds)
    line.update(signal=outcome["signal"], exit_code=outcome["exit_code"])
    if result is None:
        line["status"], line["error"] = failure(outcome, log_fd, options.timeout)
    else:
        line.update(result)
    return line


def _on_sigterm(signum, frame):
    raise SystemExit(128 + signum)  # unwinds through isolate.run, which kills the cell's group


def main(argv=None):
    """Command line entry point: 0 when every cell has its line, 2 on bad usage or tasks."""
    parser = argparse.ArgumentParser(prog="python -m inside.load", description=__doc__)
    parser.add_argument("--tasks", required=True, help="TASKS.json written by the host")
    parser.add_argument("--artifacts", required=True, help="folder the cells' paths start in")
    parser.add_argument("--out", required=True, help="RESULTS.jsonl, appended to")
    parser.add_argument("--consumer", required=True, help="environment id of this consumer")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per cell")
    parser.add_argument("--memory", type=int, default=DEFAULT_MEMORY,
                        help="address-space limit of each cell in bytes (0: none)")
    options = parser.parse_args(argv)
    isolate.limit_threads_env()  # before anything imports numpy
    try:
        tasks, out_fd = read_tasks(options.tasks), open_results(options.out)
    except (BadTasks, OSError) as exc:
        sys.stderr.write("inside.load: %s\n" % exc)
        return 2
    isolate.warm_up()
    cells, ctx = tasks["cells"], Context(tasks, options.artifacts)
    signal.signal(signal.SIGTERM, _on_sigterm)
    isolate.become_subreaper()
    log = tempfile.TemporaryFile()  # the cells' stderr, read back when one crashes
    start = last = time.time()
    for i, cell in enumerate(cells, 1):
        t0 = time.time()
        try:
            line = run_cell(cell, ctx, options, log.fileno(), [out_fd])
        except Exception as exc:  # noqa: BLE001 - a harness bug costs one cell, not the run
            from .compare import error_record
            line = base_line(cell, options.consumer)
            line["error"] = error_record(exc, "HarnessError")
        line["seconds"] = round(time.time() - t0, 4)
        write_line(out_fd, line)
        if i % 50 == 0 or time.time() - last >= 5 or i == len(cells):
            last = time.time()
            sys.stderr.write("inside.load: %d/%d cells, %.1f cells/s\n" % (
                i, len(cells), i / max(last - start, 1e-9)))
            sys.stderr.flush()
    os.close(out_fd)
    isolate.reap(5.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())

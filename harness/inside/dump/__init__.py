"""Fit every catalogue entry and dump it in every format: python -m inside.dump --out DIR ..."""

import argparse
import contextlib
import json
import os
import sys
import time
import warnings

from .. import catalogue, schema, state
from . import formats, metadata, outputs
from ..compat import SKLEARN
from ..data import dataset, task_hash, TASKS, Unavailable
from ..files import sha256_file

MANIFEST = "manifest.json"
OUTPUTS = "outputs.json"
ARTIFACT_STEM = "model"


def _json_default(value):
    # Object arrays can hold numpy scalars (np.int64 is no int subclass): store their value.
    item = getattr(value, "item", None)
    return item() if callable(item) else str(value)


def write_json(path, record, indent=None):
    """JSON, atomically; NaN and infinities are kept (Python's json reads them back)."""
    text = json.dumps(record, indent=indent, allow_nan=True, default=_json_default)
    formats.write_atomic(path, (text + "\n").encode("utf-8"))


def _file_record(out_dir, rel):
    path = os.path.join(out_dir, rel)
    return {"file": rel.replace(os.sep, "/"), "sha256": sha256_file(path),
            "size": os.path.getsize(path)}


def _na(reason):
    return {"status": schema.DUMP_NOT_APPLICABLE, "reason": reason}


def dump_format(est, entry, fmt, out_dir, ctx):
    """Write one artifact; returns its manifest record (ok, n/a with reason, or error)."""
    reason = entry.format_reason(fmt)
    if reason:
        return _na(reason)
    rel = os.path.join(entry.name, ARTIFACT_STEM + schema.FORMAT_SUFFIX[fmt])
    start = time.time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            extra = formats.WRITERS[fmt](est, os.path.join(out_dir, rel), ctx)
        except formats.NotApplicable as exc:
            return _na(str(exc))
        except Exception as exc:  # noqa: BLE001 - one format failing must not stop the dump
            return {"status": schema.DUMP_ERROR, "error": outputs.error_record(exc)}
    rec = {"status": schema.DUMP_OK}
    rec.update(_file_record(out_dir, rel))
    rec["seconds"] = round(time.time() - start, 4)
    rec.update(extra)
    texts = outputs._warning_texts(caught)
    if texts:
        rec["warnings"] = texts
    return rec


def dump_entry(entry, out_dir, producer, fmts):
    """Fit, record outputs and dump one entry; never raises for a problem of the entry."""
    rec = entry.describe()
    if not entry.available():
        reason = "needs scikit-learn >= %s (installed %s)" % (
            entry.min_version, ".".join(map(str, SKLEARN)))
        rec.update(_na(reason))
        rec["formats"] = dict((f, _na(reason)) for f in fmts)
        return rec
    error = None
    for task in getattr(entry, "tasks", (entry.task,)):  # a discovered entry tries its tasks in turn
        try:
            ds = dataset(task)
        except Unavailable as exc:  # no pandas here: the DataFrame fits are n/a, with why
            rec.update(_na(str(exc)))
            rec["formats"] = dict((f, _na(str(exc))) for f in fmts)
            return rec
        try:
            est, seconds, fit_warnings = outputs.fit(entry, ds)
        except Exception as exc:  # noqa: BLE001 - recorded, the next entry goes on
            error = error or exc
            continue
        entry.task = rec["task"] = task
        break
    else:
        if getattr(entry, "discovered", False):  # not covered: why, as n/a, not a dump failure
            reason = "%s: %s" % (getattr(entry, "unfit", "cannot be fitted on the fixed data"),
                                 outputs.error_record(error)["message"])
            rec.update(_na(reason))
            rec["formats"] = dict((f, _na(reason)) for f in fmts)
            return rec
        rec.update({"status": schema.DUMP_ERROR, "error": outputs.error_record(error)})
        rec["formats"] = dict((f, _na("the estimator could not be fitted")) for f in fmts)
        return rec
    os.makedirs(os.path.join(out_dir, entry.name), exist_ok=True)
    rec.update({"status": schema.DUMP_OK,
                "class": "%s.%s" % (type(est).__module__, type(est).__name__),
                "fit_seconds": round(seconds, 4), "fit_warnings": fit_warnings})
    preds, predict_warnings = outputs.predictions(est, ds)
    rel = os.path.join(entry.name, OUTPUTS)
    write_json(os.path.join(out_dir, rel), {
        "schema": schema.SCHEMA_VERSION, "producer": producer, "estimator": entry.name,
        "task": entry.task, "input_sha256": task_hash(entry.task), "methods": preds,
        "predict_warnings": predict_warnings, "state": state.digest(est),
    })
    rec["outputs"] = _file_record(out_dir, rel)
    rec["methods"] = dict((m, schema.DUMP_ERROR if "error" in r else schema.DUMP_OK)
                          for m, r in preds.items())
    rec.update(outputs.cv_score(entry, ds))
    ctx = {"X": ds.X, "task": entry.task}
    rec["formats"] = dict((f, dump_format(est, entry, f, out_dir, ctx)) for f in fmts)
    return rec


@contextlib.contextmanager
def _one_thread():
    # One BLAS/OpenMP thread: reductions then sum in one order, so outputs are reproducible.
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield None
        return
    with threadpool_limits(limits=1):
        yield 1


def run(out_dir, producer, entries, fmts=schema.FORMATS, progress=sys.stderr):
    """Dump the entries into out_dir and write manifest.json last; returns the manifest."""
    os.makedirs(out_dir, exist_ok=True)
    manifest_path = os.path.join(out_dir, MANIFEST)
    if os.path.exists(manifest_path):
        os.remove(manifest_path)  # a stale manifest would make a half-rewritten dump look whole
    start = time.time()
    records = []
    with _one_thread() as threads:
        for i, entry in enumerate(entries, 1):
            t0 = time.time()
            try:
                rec = dump_entry(entry, out_dir, producer, fmts)
            except Exception as exc:  # noqa: BLE001 - a harness bug costs one entry, not all
                rec = entry.describe()
                rec.update({"status": schema.DUMP_ERROR, "error": outputs.error_record(exc)})
                rec["formats"] = dict((f, _na("the entry failed before dumping")) for f in fmts)
            rec["seconds"] = round(time.time() - t0, 4)
            records.append(rec)
            counts = [sum(1 for f in rec["formats"].values() if f["status"] == s)
                      for s in (schema.DUMP_OK, schema.DUMP_NOT_APPLICABLE, schema.DUMP_ERROR)]
            if progress is not None:
                line = "[%3d/%d] %-36s %-5s %5.2fs  formats ok %d, n/a %d, error %d\n"
                progress.write(line % ((i, len(entries), entry.name, rec["status"],
                                        rec["seconds"]) + tuple(counts)))
                progress.flush()
    env = metadata.environment(producer)
    manifest = {
        "schema": schema.SCHEMA_VERSION,
        "producer": producer,
        "environment": env,
        "data_hash": env["data_hash"],
        "task_hashes": dict((t, task_hash(t)) for t in TASKS),
        "formats": list(fmts),
        "threads": threads,
        "seconds": round(time.time() - start, 3),
        "estimators": records,
        "coverage": _coverage(records),
    }
    write_json(manifest_path, manifest, indent=1)
    return manifest


_NOT_DUMPED = "no entry of this class was dumped: this matrix's [estimators] leaves it out, or its entry failed"


def _coverage(records):
    """{"all", "covered", "classes": {name: "covered" | reason}} over all_estimators(): a class is
    covered when an entry of its class was fitted and dumped; otherwise the reason is discovery's,
    the entry's own, or that this matrix's selection left it out."""
    classes = dict(catalogue.COVERAGE)
    dumped = set(rec["class"].rsplit(".", 1)[-1] for rec in records
                 if rec.get("status") == schema.DUMP_OK and rec.get("class"))
    named = dict((rec["name"], rec) for rec in records)
    for name, why in list(classes.items()):
        if name in dumped:
            classes[name] = "covered"
        elif why in ("covered", "discovered"):
            rec = named.get(name)
            classes[name] = ((rec.get("reason") or (rec.get("error") or {}).get("message") or "dump failed")
                             if rec else _NOT_DUMPED)
    return {"all": len(classes), "covered": sum(1 for v in classes.values() if v == "covered"), "classes": classes}


def _split(text):
    return [p.strip() for p in text.split(",") if p.strip()] if text else []


def main(argv=None):
    """Command line entry point; exit 0 when the dump completes, 2 on bad usage."""
    parser = argparse.ArgumentParser(prog="python -m inside.dump", description=__doc__)
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--producer", required=True, help="environment id of this producer")
    parser.add_argument("--estimators", default="", help="comma-separated name globs")
    parser.add_argument("--exclude", default="", help="comma-separated name globs to leave out")
    parser.add_argument("--formats", default="", help="comma-separated formats")
    parser.add_argument("--hand-only", action="store_true",
                        help="only the hand-written catalogue, not every class of all_estimators()")
    args = parser.parse_args(argv)
    fmts = _split(args.formats) or list(schema.FORMATS)
    unknown = [f for f in fmts if f not in schema.FORMATS]
    if unknown:
        parser.error("unknown format(s) %s; choose from %s" % (
            ", ".join(unknown), ", ".join(schema.FORMATS)))
    fmts = [f for f in schema.FORMATS if f in fmts]  # report order, no duplicates
    chosen = catalogue.select(catalogue.entries(discover=not args.hand_only), _split(args.estimators))
    dropped = catalogue.select(chosen, _split(args.exclude)) if args.exclude else []
    chosen = [e for e in chosen if e not in dropped]
    if not chosen:
        parser.error("no catalogue entry matches %r" % args.estimators)
    try:
        manifest = run(args.out, args.producer, chosen, fmts)
    except OSError as exc:
        sys.stderr.write("cannot write the dump to %s: %s\n" % (args.out, exc))
        return 2
    failed = [r["name"] for r in manifest["estimators"] if r["status"] == schema.DUMP_ERROR]
    sys.stderr.write("dumped %d estimators to %s in %.1fs (%d failed%s)\n" % (
        len(chosen), args.out, manifest["seconds"], len(failed),
        ": " + ", ".join(failed) if failed else ""))
    return 0


"""Whether the results files and the page are current for what they are made from, so that a run
with nothing changed neither merges nor renders again."""

import hashlib
import json

from ..results import file as results_file
from .tree import inside_hash
from ..core.untrusted import UntrustedInput, read_status
from ..core.source import HARNESS

HOST = HARNESS
# The tree's inputs to the merge: stage outcomes, stamps, manifests and every results file.
TREE_INPUTS = ("status/*.json", "stamps/dump-*.json", "artifacts/*/manifest.json", "cells/*.jsonl",
               results_file.PREVIOUS)
OUTPUTS = (results_file.NAME, results_file.PARQUET, "index.html", "summary.md")


def _signature(path):
    info = path.stat()
    return [str(path), info.st_size, info.st_mtime_ns, info.st_ino]


def _host_code():
    digest = hashlib.sha256()
    for path in sorted(p for p in HOST.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(HOST)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def inputs_digest(matrix, tree, locks):
    """A hash of everything the merge and the report read: the matrix, the pins, the host's code
    (the judge and the templates included) and the stat of every file of the tree they read."""
    files = sorted(_signature(p) for pattern in TREE_INPUTS for p in tree.root.glob(pattern) if p.is_file())
    pins = sorted(json.dumps(lock.to_json(), sort_keys=True, default=str) for lock in locks)
    text = json.dumps([repr(matrix), pins, _host_code(), inside_hash(), files], default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _stamp_path(tree):
    return tree.root / "stamps" / "merged.json"


def current(matrix, tree, locks):
    """The summary recorded by the last merge and report when nothing they read or wrote changed
    since ({"cells": n, "proof": {...}}), else None."""
    try:
        stamp = read_status(_stamp_path(tree))
    except UntrustedInput:
        return None
    if not stamp or stamp.get("inputs") != inputs_digest(matrix, tree, locks):
        return None
    try:
        outputs = [_signature(tree.root / name) for name in OUTPUTS]
    except FileNotFoundError:
        return None
    return stamp.get("summary") if stamp.get("outputs") == outputs else None


def record(matrix, tree, locks, merged):
    """Remember, after a merge and a report, what they were made from and what they wrote
    (merged: the merge's {"cells": count, "proof": {...}})."""
    from ..core.files import write_json

    summary = {"cells": merged["cells"], "proof": merged.get("proof") or {}}
    write_json(_stamp_path(tree), {"inputs": inputs_digest(matrix, tree, locks),
                                   "outputs": [_signature(tree.root / name) for name in OUTPUTS],
                                   "summary": summary})

"""Combine the results trees of several machines (shards) into one, cell by cell."""

import json
import shutil
from pathlib import Path

from . import cells as cells_mod
from .errors import ResultsSchemaError
from .inside.schema import SCHEMA_VERSION


def parse_shard(text):
    """'2/4' -> (2, 4), refusing anything else."""
    try:
        index, total = (int(part) for part in text.split("/"))
    except ValueError:
        index = total = 0
    if not 1 <= index <= total:
        from .errors import SelectionError

        raise SelectionError(f"bad --shard {text!r}: expected i/n with 1 <= i <= n, e.g. 1/4")
    return index, total


def combine(target, sources):
    """Copy into target what sources hold that it lacks: dumps, statuses and every result line.

    Result lines are merged per file by cell key, so the same shard merged twice adds nothing.
    Returns (files copied, result lines added).
    """
    target = Path(target)
    copied = added = 0
    for source in map(Path, sources):
        _check_schema(source)
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            rel = path.relative_to(source)
            if rel.parts[0] in ("results.json", "previous-results.json", "index.html", "summary.md", "tasks",
                                "locks"):
                continue
            dest = target / rel
            if rel.parts[0] == "cells" and path.suffix == ".jsonl":
                added += _merge_lines(path, dest)
            elif not dest.exists():
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, dest)
                copied += 1
    return copied, added


def _merge_lines(source, dest):
    """Append the complete lines of source whose key dest does not have yet."""
    have = cells_mod.read_results(dest)
    new = {key: rec for key, rec in cells_mod.read_results(source).items() if key not in have}
    if new:
        dest.parent.mkdir(parents=True, exist_ok=True)
        cells_mod.repair_tail(dest)
        with open(dest, "a", encoding="utf-8") as handle:
            handle.write("".join(json.dumps(rec, sort_keys=True) + "\n" for rec in new.values()))
    return len(new)


def _check_schema(source):
    """Refuse a tree written under another schema."""
    if not source.is_dir():
        from .errors import SelectionError

        raise SelectionError(f"{source} is not a results tree folder",
                             hint="give the reports/<matrix> folder of each machine's run")
    results = source / "results.json"
    if results.exists():
        found = json.loads(results.read_text()).get("schema")
        if found != SCHEMA_VERSION:
            raise ResultsSchemaError(f"{results} has schema {found!r}, this harness reads {SCHEMA_VERSION}")

"""Combine the results trees of several machines (shards) into one, cell by cell."""

import json
import os
import stat
from pathlib import Path

from . import cells as cells_mod
from . import file as results_file
from ..core.errors import ResultsSchemaError
from ..inside.schema import SCHEMA_VERSION
from ..core.untrusted import LINE_MAX, UntrustedInput, confined, loads_bounded

# What a source tree holds that is this machine's own, or regenerated from the rest.
_NOT_COPIED = (results_file.NAME, results_file.PREVIOUS, results_file.PARQUET, *results_file.LEGACY,
               "index.html", "summary.md", "tasks", "locks")
# Stamps that describe this machine's files (their inodes and times): another machine's mean nothing here.
_LOCAL_STAMPS = ("stamps/hashes-", "stamps/complete-", "stamps/merged.json")


def parse_shard(text):
    """'2/4' -> (2, 4), refusing anything else."""
    try:
        index, total = (int(part) for part in text.split("/"))
    except ValueError:
        index = total = 0
    if not 1 <= index <= total:
        from ..core.errors import SelectionError

        raise SelectionError(f"bad --shard {text!r}: expected i/n with 1 <= i <= n, e.g. 1/4")
    return index, total


def combine(target, sources, skipped=None):
    """Copy into target what sources hold that it lacks: dumps, statuses and every result line.

    Result lines are merged per file by cell key, so the same shard merged twice adds nothing.
    The trees come from other machines: only regular files are copied, never a symlink (it could
    name any file here), and only to paths inside target. skipped, a list, receives one line for
    each entry refused. Returns (files copied, result lines added).
    """
    target = Path(target)
    copied = added = 0
    for source in map(Path, sources):
        _check_schema(source)
        for rel in _regular_files(source, skipped):
            if rel.split("/")[0] in _NOT_COPIED or rel.startswith(_LOCAL_STAMPS):
                continue
            try:
                dest = confined(target, rel)
            except UntrustedInput as exc:
                _skip(skipped, f"{source}: {exc}")
                continue
            if rel.startswith("cells/") and rel.endswith(".jsonl"):
                added += _merge_lines(source / rel, dest)
            elif not os.path.lexists(dest):
                dest.parent.mkdir(parents=True, exist_ok=True)
                copied += _copy_regular(source / rel, dest, skipped)
    return copied, added


def _skip(skipped, line):
    if skipped is not None:
        skipped.append(line)


def _regular_files(source, skipped):
    """Sorted relative paths (with /) of the regular files under source; symlinks and the like refused."""
    out = []
    for folder, dirs, files in os.walk(source):  # os.walk does not descend into symlinked folders
        for name in dirs + files:
            path = os.path.join(folder, name)
            rel = os.path.relpath(path, source).replace(os.sep, "/")
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                _skip(skipped, f"{source}: {rel} is a symbolic link, not copied")
            elif name in files and not stat.S_ISREG(mode):
                _skip(skipped, f"{source}: {rel} is not a regular file, not copied")
            elif name in files:
                out.append(rel)
    return sorted(out)


def _copy_regular(source, dest, skipped):
    """Copy one file's bytes (not its mode bits) without following a symlink at either end; 1 if copied."""
    try:
        src = _no_follow(source, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:  # replaced by a symlink since the walk, or gone
        _skip(skipped, f"{source}: not copied ({exc.strerror})")
        return 0
    with os.fdopen(src, "rb") as reader:
        info = os.fstat(reader.fileno())
        if not stat.S_ISREG(info.st_mode):
            _skip(skipped, f"{source}: not a regular file, not copied")
            return 0
        # O_EXCL: never through a symlink planted at dest, never over a file that appeared meanwhile.
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        with os.fdopen(fd, "wb") as writer:
            for block in iter(lambda: reader.read(1 << 20), b""):
                writer.write(block)
    os.utime(dest, ns=(info.st_atime_ns, info.st_mtime_ns))
    return 1


def _no_follow(path, flags):
    """open()'s opener: a file swapped for a symlink or a FIFO since the walk is refused, not followed or waited on."""
    return os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK)


def _read_lines(path):
    """{key: record} of a results file from another machine: each line bounded in size and depth.

    Lines that are too long, too deep, not JSON objects, of another schema or without a key are left
    out, like a partial last line.
    """
    out = {}
    with open(path, "rb", opener=_no_follow) as handle:
        while True:
            raw = handle.readline(LINE_MAX + 1)
            if not raw.endswith(b"\n"):
                if len(raw) > LINE_MAX:  # an oversized line: skip to its end and go on
                    while raw and not raw.endswith(b"\n"):
                        raw = handle.readline(LINE_MAX + 1)
                    continue
                break  # end of file, or a partial last line
            try:
                record = loads_bounded(raw)
            except UntrustedInput:
                continue
            if isinstance(record, dict) and record.get("schema") == SCHEMA_VERSION \
                    and isinstance(record.get("key"), str):
                out[record["key"]] = record
    return out


def _merge_lines(source, dest):
    """Append the complete lines of source whose key dest does not have yet."""
    have = cells_mod.read_results(dest)
    new = {key: rec for key, rec in _read_lines(source).items() if key not in have}
    if new:
        dest.parent.mkdir(parents=True, exist_ok=True)
        cells_mod.repair_tail(dest)
        with open(dest, "a", encoding="utf-8") as handle:
            handle.write("".join(json.dumps(rec, sort_keys=True) + "\n" for rec in new.values()))
    return len(new)


def _check_schema(source):
    """Refuse a tree written under another schema."""
    if not source.is_dir():
        from ..core.errors import SelectionError

        raise SelectionError(f"{source} is not a results tree folder",
                             hint="give the reports/<matrix> folder of each machine's run")
    for legacy in results_file.LEGACY[:1]:
        if (source / legacy).exists() and not (source / results_file.NAME).exists():
            raise ResultsSchemaError(f"{source / legacy} is a schema 2 results file (an older harness): this "
                                     f"harness reads schema {results_file.RESULTS_SCHEMA} ({results_file.NAME})",
                                     hint="run that machine's shard again with this harness")
    results = source / results_file.NAME
    try:
        data = results_file.read(results, nofollow=True)
    except FileNotFoundError:
        return
    except UntrustedInput as exc:
        raise ResultsSchemaError(f"{results} cannot be read: {exc}") from None
    found = results_file.other_schema(data)
    if found:
        raise ResultsSchemaError(f"{results} has {found}, this harness reads {results_file.RESULTS_SCHEMA}")

"""File helpers with the standard library only: safe to import before numpy sets its threads."""

import hashlib
import os


def sha256_file(path):
    """The file's sha256, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_atomic(path, data):
    """Write bytes to a temporary sibling, then rename: readers never see half a file."""
    tmp = "%s.tmp-%d" % (path, os.getpid())
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)

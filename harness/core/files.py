"""Files written atomically and read back, and their hashes."""

import hashlib
import json
import os
import tempfile
from pathlib import Path


def write_bytes(path, data):
    """Write bytes atomically: a reader sees the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; results are published and read by containers
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path, data, compact=False):
    """Write JSON atomically (write_bytes), with sorted keys; indented, unless compact (no
    spaces at all, and json's C encoder, which indenting would replace by Python's: 10x slower)."""
    if compact:
        text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    else:
        text = json.dumps(data, indent=1, sort_keys=True)
    write_bytes(path, (text + "\n").encode("utf-8"))


def read_json(path):
    """Read a JSON file, or None when it does not exist."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def sha256_file(path, chunk=1 << 20):
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_text(*parts):
    """Hex sha256 of strings joined by newlines."""
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()

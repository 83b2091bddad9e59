"""sha256 of files remembered by their stat (size, mtime, ctime, inode), so that a warm run
hashes only what changed since it last looked: a file whose contents change gets a new ctime,
which no program can set back."""

import json
import os
import stat
import time

from ..core.files import sha256_file, write_bytes
from ..core.untrusted import UntrustedInput, read_json_bounded

MAX_BYTES = 64 << 20
# A file changed in the same clock tick as it was hashed could keep its ctime (git's "racy
# clean" problem): only a file whose ctime is older than this is remembered.
SETTLE_NS = 2_000_000_000


def _signature(info):
    return [info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino, info.st_dev]


class HashCache:
    """{relative path: stat signature and sha256} of one folder, kept in a JSON file beside it."""

    def __init__(self, folder, path):
        self.folder, self.path = folder, path
        self.entries, self.changed = self._read(), False

    def _read(self):
        try:
            data = read_json_bounded(self.path, MAX_BYTES)
        except (FileNotFoundError, UntrustedInput, OSError):
            return {}  # no cache, or one that cannot be used: every file is hashed again
        if not isinstance(data, dict):
            return {}
        return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, list) and len(v) == 6
                and all(isinstance(x, int) for x in v[:5]) and isinstance(v[5], str)}

    def sha256(self, path):
        """The file's sha256, computed only when its stat changed since it was last computed."""
        info = os.stat(path)
        name = os.path.relpath(path, self.folder)
        known = self.entries.get(name)
        if known is not None and known[:5] == _signature(info):
            return known[5]
        digest = sha256_file(path)
        after = os.stat(path)
        if _signature(after) == _signature(info) and time.time_ns() - after.st_ctime_ns > SETTLE_NS:
            self.entries[name] = _signature(after) + [digest]
            self.changed = True
        return digest

    def remembered(self, rel):
        """The sha256 remembered for rel when the regular file there is still the one hashed, with
        the same stat, else None: no path resolution (an entry is made only for a confined path,
        and the same inode with the same ctime is the same file, wherever the path leads)."""
        known = self.entries.get(rel)
        if known is None:
            return None
        try:
            info = os.lstat(os.path.join(self.folder, rel))
        except OSError:
            return None
        return known[5] if stat.S_ISREG(info.st_mode) and known[:5] == _signature(info) else None

    def save(self):
        """Write the cache when something was added to it."""
        if self.changed:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_bytes(self.path, json.dumps(self.entries, separators=(",", ":")).encode())
            self.changed = False

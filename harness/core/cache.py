"""The cache folder on the host: downloaded wheels, image contexts, root file systems, logs."""

import os
from dataclasses import dataclass
from pathlib import Path


def cache_root():
    """The cache folder: $SKLMATRIX_CACHE, else .cache in the current folder."""
    return Path(os.environ.get("SKLMATRIX_CACHE", ".cache")).resolve()


@dataclass(frozen=True)
class Cache:
    """Paths under the cache root."""

    root: Path

    @classmethod
    def default(cls):
        """The cache at cache_root()."""
        return cls(cache_root())

    @property
    def pool(self):
        """Every downloaded wheel, once."""
        return self.root / "wheelhouse" / "pool"

    def lock(self, env_id):
        """The pinned wheel set of one environment."""
        return self.root / "wheelhouse" / "locks" / f"{env_id}.json"

    def resolve_log(self, env_id):
        """pip's output for one environment's resolution."""
        return self.root / "logs" / "resolve" / f"{env_id}.log"

    def build_log(self, name):
        """The build log of an image or base image."""
        return self.root / "logs" / "build" / f"{name}.log"

    def context(self, name):
        """A docker build context folder."""
        return self.root / "contexts" / name

    def rootfs(self, name):
        """A debootstrapped root file system."""
        return self.root / "rootfs" / name

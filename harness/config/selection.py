"""Choosing environments of a matrix by id or glob on the command line."""

import dataclasses
import fnmatch

from ..core.errors import SelectionError
from .checks import suggest


def select(matrix, patterns):
    """The matrix narrowed to environments matching any pattern (all when none are given)."""
    if not patterns:
        return matrix
    ids = [env.id for env in matrix.envs]
    for pattern in patterns:
        if not any(fnmatch.fnmatchcase(i, pattern) for i in ids):
            raise SelectionError(f"no environment of matrix {matrix.name!r} matches {pattern!r}"
                                 f"{suggest(pattern, ids)}", hint="`python -m harness list` shows the ids")
    envs = tuple(e for e in matrix.envs if any(fnmatch.fnmatchcase(e.id, p) for p in patterns))
    return dataclasses.replace(matrix, envs=envs)

"""One catalogue entry: a stable id, its family and task, a minimum version, a factory."""

import re

from .. import schema
from ..compat import at_least
from ..data import TASKS


# Names become folder names in every dump, on every OS.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class Entry(object):
    """One reference estimator: a stable id, its family and task, a minimum version, a factory."""

    def __init__(self, name, family, task, factory, min_version="0.24", only_formats=None,
                 only_reason=None):
        if not _NAME.match(name):
            raise ValueError("catalogue name %r is not a safe folder name" % name)
        if family not in schema.FAMILIES:
            raise ValueError("unknown family %r for %s" % (family, name))
        if task not in TASKS:
            raise ValueError("unknown task %r for %s" % (task, name))
        self.name = name
        self.family = family
        self.task = task
        self.factory = factory
        self.min_version = min_version
        # Formats the estimator can be written in at all (None: every format), and why not others.
        self.only_formats = tuple(only_formats) if only_formats else None
        self.only_reason = only_reason

    def available(self):
        """True when the installed scikit-learn has this estimator."""
        return at_least(self.min_version)

    def format_reason(self, fmt):
        """Why this format does not apply to the entry, or None when it does."""
        if self.only_formats is not None and fmt not in self.only_formats:
            return self.only_reason or "only %s apply" % ", ".join(self.only_formats)
        return None

    def describe(self):
        """The static part of the manifest record."""
        return {
            "name": self.name,
            "family": self.family,
            "task": self.task,
            "min_sklearn": self.min_version,
        }

    def __repr__(self):
        return "Entry(%r)" % self.name

"""The values matrix.toml declares beside environments: float tolerances and known issues."""

import fnmatch
import re
from dataclasses import dataclass

KNOWN_KEYS = ("producer", "consumer", "format", "estimator", "status", "error", "reason", "link")


@dataclass(frozen=True)
class Tolerance:
    """Float comparison tolerances, as in numpy.allclose."""

    rtol: float = 1e-7
    atol: float = 1e-10


@dataclass(frozen=True)
class Known:
    """An expected incompatibility: which cells (globs), the outcome they are expected to have
    (statuses, and optionally a pattern their error must match), why, and the evidence."""

    producer: str
    consumer: str
    format: str
    estimator: str
    reason: str
    link: str
    status: tuple = ()
    error: str = ""  # a regular expression searched in "ErrorType: message"

    def matches(self, producer, consumer, fmt, estimator):
        """Whether a cell falls under this entry's globs."""
        pairs = ((producer, self.producer), (consumer, self.consumer),
                 (fmt, self.format), (estimator, self.estimator))
        return all(fnmatch.fnmatchcase(value, pattern) for value, pattern in pairs)

    def explains(self, record):
        """Whether a cell's outcome is the one this entry expects: a failure that is not the
        expected one (a crash where a load error is known) is no known issue."""
        if record.get("status") not in self.status:
            return False
        if not self.error:
            return True
        error = record.get("error") if isinstance(record.get("error"), dict) else {}
        text = f"{error.get('type') or ''}: {error.get('message') or ''}"
        return re.search(self.error, text) is not None

    def record(self):
        """The entry as the results file lists it."""
        return dict(self.__dict__, status=list(self.status))

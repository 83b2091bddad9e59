"""Failures of the tool itself, each with its own exit code; findings are never exceptions."""


class HarnessError(Exception):
    """A failure of the harness that the CLI reports as one line and an exit code."""

    exit_code = 1
    hint = ""

    def __init__(self, message, hint=None):
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    def line(self):
        """The one line the CLI prints."""
        text = str(self)
        return f"{text} ({self.hint})" if self.hint else text


class ConfigError(HarnessError):
    """matrix.toml is malformed or contradictory."""

    exit_code = 2


class SelectionError(HarnessError):
    """The command line names environments or matrices that do not exist."""

    exit_code = 3


class EngineUnavailable(HarnessError):
    """No container engine answers."""

    exit_code = 4
    hint = "run `sudo images/setup-engine.sh`, or use --backend venv"


class ResolutionError(HarnessError):
    """Wheels for an environment could not be resolved or downloaded."""

    exit_code = 5


class BuildError(HarnessError):
    """An image or base image could not be built."""

    exit_code = 6


class DiskSpaceError(HarnessError):
    """Not enough free disk for the wheelhouse, images or results."""

    exit_code = 7


class ResultsSchemaError(HarnessError):
    """A results file was written under another schema number."""

    exit_code = 8
    hint = "move the old results away or rerun `python -m harness load` to recompute them"


class ArtifactError(HarnessError):
    """A dumped artifact is missing, truncated or changed since its dump."""

    exit_code = 9


class ConcurrentRunError(HarnessError):
    """Another process is already loading the same consumer into the same results tree."""

    exit_code = 10


class ProofError(HarnessError):
    """The run did not prove it can fail: a canary or a diagonal control came out wrong."""

    exit_code = 11
    hint = "the report says which at its top; a canary that passes where it must fail means the judgement is broken"

"""A cell's result, defined once: the line the load stage writes to reports/<run>/cells/, and the
fields the collection adds before results.json.gz and the page read it."""

from typing import NotRequired, TypedDict

from ..inside.schema import SCHEMA_VERSION, Status


class ErrorRecord(TypedDict):
    """Why a cell failed: the exception's type (or a harness kind) and its first lines."""

    type: str
    message: str


class WarningRecord(TypedDict):
    """A warning of the load or of a call, as the consumer's child caught it."""

    category: str                     # the warning's class name
    message: str
    original_version: str | None      # InconsistentVersionWarning's producer version


class CallResult(TypedDict, total=False):
    """One method on one input (`predict`, `predict@float32`): its comparison with the producer's."""

    status: str         # identical, close, mismatch, error, missing, one-sided
    detail: str         # what differs, or the error
    max_abs: float      # the largest absolute difference of a float output
    max_rel: float
    type_change: str    # "float64 -> float32" and the like


class Refit(TypedDict):
    """The loaded artifact against the consumer's own fit of the same entry on the same data."""

    status: str
    max_abs: float | None


class CellResult(TypedDict):
    """One artifact of one producer, loaded in one consumer, judged against its producer's record."""

    schema: int                       # inside/schema.py's SCHEMA_VERSION
    key: str                          # the cell's cache key (stages/load.py: inputs of the verdict)
    producer: str                     # environment ids
    consumer: str
    estimator: str                    # catalogue entry name
    format: str                       # inside/schema.py's FORMATS
    status: str                       # inside/schema.py's Status, or "pending" before a load
    max_abs: float | None             # the largest difference over every compared call
    max_rel: float | None
    methods: dict[str, CallResult]    # every fixed-row call, and the other calls not identical
    warnings: list[WarningRecord]     # of the load and the calls, without the producer's own
    error: ErrorRecord | None
    signal: int | None                # the child's fatal signal, or its exit code
    exit_code: int | None
    untrusted: list[str] | None       # skops types the trust policy refused or flagged
    grid: NotRequired[dict]           # method x input -> status, for the detail's grid
    type_changes: NotRequired[list[str]]
    state: NotRequired[dict]          # fitted attributes missing, added or changed after the load
    seconds: NotRequired[float]       # the loader's time, on the first cell of identical bytes
    refit: NotRequired[Refit]
    # Added by the collection (report/collect.py), never by a load:
    family: NotRequired[str]          # catalogue family, or "canary"
    cv: NotRequired[dict]             # the consumer's cross-validation score against the producer's
    canary: NotRequired[dict]         # a canary's stated outcome
    known: NotRequired[dict]          # the [[known]] entry that explains a failure
    since: NotRequired[str]           # when a failing cell first failed (the merge, report/collect.py)


def blank(cell, consumer) -> CellResult:
    """A result with every field, its identity from the host's own cell: a load error until judged."""
    return {"schema": SCHEMA_VERSION, "key": cell.key, "producer": cell.producer,
            "estimator": cell.estimator, "format": cell.format, "consumer": consumer,
            "status": Status.LOAD_ERROR, "max_abs": None, "max_rel": None, "methods": {},
            "warnings": [], "error": None, "signal": None, "exit_code": None, "untrusted": None}


def pending(cell, consumer) -> dict:
    """The record of a cell no load has answered yet."""
    return {"key": cell.key, "producer": cell.producer, "consumer": consumer,
            "estimator": cell.estimator, "format": cell.format, "status": "pending"}

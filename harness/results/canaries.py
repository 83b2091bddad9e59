"""Canaries: cells whose right verdict is known before the run, made by the host from each
producer's own dump and loaded by that producer's own environment, beside the diagonal
controls. A judgement that cannot fail (a comparison that always says identical) fails them."""

import hashlib
import json
from dataclasses import dataclass

from ..core.files import write_bytes
from ..core.untrusted import UntrustedInput, confined, loads_bounded

FOLDER = "canaries"
MAX_SOURCE = 8 << 20  # bytes of the source estimator's outputs.json the host reads
# Estimators whose pickle and outputs make the canaries, first present wins: integer labels and
# probabilities, deterministic on the fixed rows on every platform.
SOURCES = ("LogisticRegression", "GaussianNB", "DecisionTreeClassifier", "KNeighborsClassifier")


@dataclass(frozen=True)
class Canary:
    """One canary of one producer: what to load, the record to judge it against, what must come out."""

    name: str
    expected: str          # the status it must have
    type_change: bool      # whether the verdict must also record a change of output type
    file: str              # the artifact, relative to the producer's folder
    outputs: str           # the record, relative to the producer's folder
    outputs_bytes: bytes
    sha256: str            # the artifact's, as the loader checks it
    artifact_bytes: bytes = b""  # written by the host (empty: a real artifact of the dump)
    cls: str = ""
    task: str = ""

    @property
    def outputs_sha256(self):
        """sha256 of the record, as a manifest would give it."""
        return hashlib.sha256(self.outputs_bytes).hexdigest()


def _no_such_class_pickle(cls):
    """Pickle protocol 2 bytes that build an object of a class its module does not have."""
    module = cls.rpartition(".")[0] or "sklearn"
    return (b"\x80\x02c" + module.encode("ascii") + b"\nNoSuchEstimator\n)\x81}b.")


def _nudge_up(data):
    """Every float of nested lists moved by one unit in the last place."""
    import math
    if isinstance(data, list):
        return [_nudge_up(v) for v in data]
    return math.nextafter(data, math.inf) if isinstance(data, float) and data != 0.0 else data


def _scale(data, factor):
    if isinstance(data, list):
        return [_scale(v, factor) for v in data]
    return data * factor if isinstance(data, float) else data


def _swap_labels(data):
    """The first two distinct labels exchanged everywhere."""
    flat = [v for v in data if not isinstance(v, list)]
    distinct = sorted(set(flat))[:2]
    if len(distinct) < 2:
        return None
    a, b = distinct
    return [b if v == a else a if v == b else v for v in data]


def _source(manifest):
    """The estimator whose pickle and outputs make the canaries: one of SOURCES, else the first
    with a pickle."""
    usable = [e for e in manifest.get("estimators", []) if e.get("status") == "ok" and e.get("outputs")
              and e.get("formats", {}).get("pickle", {}).get("status") == "ok"]
    usable.sort(key=lambda e: SOURCES.index(e["name"]) if e.get("name") in SOURCES else len(SOURCES))
    return (usable[0], usable[0]["formats"]["pickle"]) if usable else (None, None)


def _first(methods, kinds):
    """(name, record) of the first fixed-row output whose dtype starts with one of kinds and
    that has a non-zero value, or (None, None)."""
    for name, rec in methods.items():
        if "@" in name or not isinstance(rec, dict) or not isinstance(rec.get("data"), list):
            continue
        if str(rec.get("dtype", "")).startswith(kinds) and _nonzero(rec["data"]):
            return name, rec
    return None, None


def _nonzero(data):
    return any(_nonzero(v) for v in data) if isinstance(data, list) else bool(data)


def _record_bytes(record):
    return (json.dumps(record, sort_keys=True, allow_nan=True) + "\n").encode("utf-8")


def plan(folder, manifest):
    """The canaries of one producer from its checked manifest and its own outputs.json; [] when its
    dump has none of the source estimators (the report then says the run has no canary there)."""
    est, fmt = _source(manifest)
    if est is None:
        return []
    try:
        with open(confined(folder, est["outputs"]["file"]), "rb") as handle:
            raw = handle.read(MAX_SOURCE + 1)
        if len(raw) > MAX_SOURCE or hashlib.sha256(raw).hexdigest() != est["outputs"].get("sha256"):
            return []
        source = loads_bounded(raw.decode("utf-8"), what="outputs.json")
    except (OSError, UntrustedInput, ValueError):
        return []
    methods = source.get("methods") if isinstance(source, dict) else None
    if not isinstance(methods, dict):
        return []
    # Only the fixed rows' calls: the other inputs take paths whose last bit is not the same from
    # one process to the next (one row goes through BLAS's vector kernels, which depend on the
    # input's alignment: LogisticRegression.decision_function on one row came out 1 ulp apart
    # between the dump and a reload in the same environment). Those calls are the controls' to
    # judge; a canary's outcome must be the one its change makes.
    methods = {name: rec for name, rec in methods.items() if "@" not in name}
    out = []

    def add(name, expected, changed_methods, type_change=False, artifact=b""):
        record = dict(source, methods=dict(methods, **changed_methods) if changed_methods is not None else {})
        rel = f"{FOLDER}/{name}"
        sha = hashlib.sha256(artifact).hexdigest() if artifact else fmt["sha256"]
        out.append(Canary(name, expected, type_change, rel + "/model.pkl" if artifact else fmt["file"],
                          rel + "/outputs.json", _record_bytes(record), sha, artifact,
                          est.get("class", ""), est.get("task", "")))

    floats, values = _first(methods, ("float",))
    if floats:
        add("canary-scaled", "mismatch", {floats: dict(values, data=_scale(values["data"], 1.001))})
        add("canary-one-ulp", "close", {floats: dict(values, data=_nudge_up(values["data"]))})
    ints, labels = _first(methods, ("int",))
    swapped = _swap_labels(labels["data"]) if ints else None
    if swapped is not None:
        add("canary-labels-swapped", "mismatch", {ints: dict(labels, data=swapped)})
    if ints:
        add("canary-dtype", "identical", {ints: dict(labels, dtype="int32" if labels["dtype"] != "int32"
                                                      else "int64")}, type_change=True)
    add("canary-nothing-compared", "uncompared", None)
    add("canary-no-such-class", "load-error", {}, artifact=_no_such_class_pickle(est.get("class") or ""))
    return out


def write(folder, canaries):
    """Write the canaries' records and crafted artifacts into a producer's folder (before its load)."""
    for canary in canaries:
        for rel, data in ((canary.outputs, canary.outputs_bytes), (canary.file, canary.artifact_bytes)):
            if not data:
                continue
            path = confined(folder, rel)
            if not path.exists() or path.read_bytes() != data:
                write_bytes(path, data)


def verdict(record):
    """None when a canary's record came out as expected, else what went wrong."""
    expected = record.get("canary") or {}
    status = record.get("status")
    if status == "pending":
        return "not computed"
    if status != expected.get("status"):
        return f"came out {status}, expected {expected.get('status')}"
    if expected.get("type_change") and not record.get("type_changes"):
        return "recorded no change of output type"
    return None

"""Why a cell broke, as one short cause: the exception type plus the missing or changed name
(a module, a class, an attribute, a dtype field), so that the report can show how few causes
explain most failures and which producer and consumer versions each one spans."""

import re

from ..core.versions import version_key
from ..inside.schema import Status

# (pattern searched in "Type: message", how the cause reads); the first match wins.
_RULES = (
    (re.compile(r"No module named '([\w.]+)'"), "module {0} is gone"),
    (re.compile(r"Can't get attribute '([\w.]+)' on <module '([\w.]+)'"), "{1}.{0} is gone"),
    (re.compile(r"cannot import name '([\w.]+)' from '([\w.]+)'"), "{1}.{0} is gone"),
    (re.compile(r"module '([\w.]+)' has no attribute '([\w.]+)'"), "{0}.{1} is gone"),
    (re.compile(r"'(\w+)' object has no attribute '(\w+)'"), "{0}.{1} is missing after loading"),
    (re.compile(r"node array from the pickle has an incompatible dtype"), "tree node array dtype changed"),
    (re.compile(r"[Uu]nsupported pickle protocol: (\d+)"), "pickle protocol {0} unsupported"),
    (re.compile(r"refused to trust ([\w.]+)"), "skops type {0} outside the trust policy"),
    (re.compile(r"(\w+)\(\) got an unexpected keyword argument '(\w+)'"), "{0}() lacks argument {1}"),
    (re.compile(r"__setstate__\(\) (?:takes|missing)"), "__setstate__ signature changed"),
    (re.compile(r"Buffer dtype mismatch, expected '([^']+)' but got '([^']+)'"), "buffer dtype {1} where {0} is expected"),
)
MAX_ESTIMATORS = 6  # estimators a cause names
_NUMBERS = re.compile(r"\b\d+(\.\d+)*\b")


def cause(record):
    """The cause of a failing cell, or None for one that did not fail."""
    status = record.get("status")
    if status not in (Status.MISMATCH, Status.PREDICT_ERROR, Status.LOAD_ERROR, Status.REFUSED,
                      Status.CRASH, Status.TIMEOUT):
        return None
    error = record.get("error") if isinstance(record.get("error"), dict) else {}
    kind = str(error.get("type") or "")[:60]
    message = str(error.get("message") or "")[:500]
    if status == Status.MISMATCH and not error:
        methods = record.get("methods") if isinstance(record.get("methods"), dict) else {}
        bad = sorted({c.split("@")[0] for c, m in methods.items()
                      if isinstance(m, dict) and m.get("status") == "mismatch"})
        return "predictions changed: " + (", ".join(bad[:4]) or "some call")
    text = f"{kind}: {message}"
    for pattern, template in _RULES:
        found = pattern.search(text)
        if found:
            return f"{kind}: " + template.format(*found.groups()) if kind else template.format(*found.groups())
    if status == Status.TIMEOUT:
        return "Timeout"
    # Otherwise the type and the message's first line with numbers taken out, so that the same
    # failure at other sizes or addresses groups together.
    first = message.splitlines()[0] if message else ""
    return f"{kind}: {_NUMBERS.sub('N', first)[:120]}".strip(": ")


class Tally:
    """Failing cells by cause, added one at a time."""

    def __init__(self):
        self._groups = {}

    def add(self, record):
        """Count one cell (nothing when it did not fail)."""
        why = cause(record)
        if why is None:
            return
        g = self._group(why)
        g["cells"] += 1
        g["known"] += 1 if record.get("known") else 0
        g["p"].add(record.get("producer"))
        g["c"].add(record.get("consumer"))
        g["formats"].add(str(record.get("format")))
        if len(g["estimators"]) < MAX_ESTIMATORS:
            g["estimators"].setdefault(str(record.get("estimator")))  # the first ones met, in order

    def _group(self, why):
        g = self._groups.get(why)
        if g is None:
            g = self._groups[why] = {"cause": why, "cells": 0, "known": 0, "p": set(), "c": set(), "formats": set(),
                                     "estimators": {}}
        return g

    def state(self):
        """The groups as JSON values (the merge keeps a block's with the block)."""
        return [{k: sorted(v, key=str) if isinstance(v, set) else list(v) if isinstance(v, dict) else v
                 for k, v in g.items()} for g in self._groups.values()]

    def absorb(self, state):
        """Add another tally's state (of cells that come after this one's): the same groups as one
        tally of all the cells."""
        for other in state:
            g = self._group(other["cause"])
            g["cells"] += other["cells"]
            g["known"] += other["known"]
            for name in ("p", "c", "formats"):
                g[name].update(other[name])
            for estimator in other["estimators"]:
                if len(g["estimators"]) >= MAX_ESTIMATORS:
                    break
                g["estimators"].setdefault(estimator)

    def result(self, sklearn_of):
        """[{cause, cells, producers: (low, high), consumers: (low, high), formats, estimators}] by
        cells, most first; sklearn_of maps an environment id to its scikit-learn version."""
        out = []
        for g in sorted(self._groups.values(), key=lambda g: (-g["cells"], g["cause"])):
            p = sorted({sklearn_of.get(e, "?") for e in g["p"]}, key=version_key)
            c = sorted({sklearn_of.get(e, "?") for e in g["c"]}, key=version_key)
            out.append({k: v for k, v in g.items() if k not in ("p", "c")} | {
                "producers": (p[0], p[-1]), "consumers": (c[0], c[-1]), "formats": sorted(g["formats"]),
                "estimators": sorted(g["estimators"])})
        return out


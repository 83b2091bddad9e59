"""Same versions, other architecture: the cells between environments whose ids differ only in
their architecture (skl1.2.1-py3.11-deb12-amd64 and -s390x), by pair and format, with every
estimator that does not come out identical or close there and why."""

from collections import Counter, defaultdict

from ..results import causes
from ..config.env_ids import parse_id
from ..inside.schema import Status
from ..core.platforms import word_text

# What a cross-architecture cell may be and still say "this artifact survives the move".
SURVIVES = (Status.IDENTICAL, Status.CLOSE, Status.WARNING, Status.NOT_APPLICABLE)


def twins_key(env_id):
    """(scikit-learn, Python, stack) of an id, or None: environments alike in all but the arch."""
    found = parse_id(env_id)
    return (found["sklearn"], found["python"], found["stack"]) if found else None


class Tally:
    """The cells between twins, added one at a time."""

    def __init__(self):
        self._table = defaultdict(lambda: {"counts": Counter(), "broken": []})
        self._twins = {}

    def _key(self, env_id):
        if env_id not in self._twins:
            self._twins[env_id] = twins_key(env_id)
        return self._twins[env_id]

    def add(self, cell):
        """Count one cell when it lies between two twins."""
        if cell.get("canary") or cell.get("producer_na"):
            return
        producer, consumer = cell.get("producer"), cell.get("consumer")
        if not producer or not consumer or producer == consumer or not isinstance(producer, str) \
                or not isinstance(consumer, str):
            return
        key = self._key(producer)
        if key is None or key != self._key(consumer):
            return
        entry = self._table[(producer, consumer, cell.get("format"))]
        status = cell.get("status")
        entry["counts"][status] += 1
        if status not in SURVIVES:
            entry["broken"].append({"estimator": cell.get("estimator"), "status": status,
                                    "cause": causes.cause(cell) or status})

    def state(self):
        """The table as JSON values (the merge keeps a block's with the block)."""
        return [[list(key), list(entry["counts"].items()), entry["broken"]] for key, entry in self._table.items()]

    def absorb(self, state):
        """Add another tally's state."""
        for key, counts, broken in state:
            entry = self._table[tuple(key)]
            for status, count in counts:
                entry["counts"][status] += count
            entry["broken"].extend(broken)

    def result(self):
        """[{producer, consumer, words, format, counts, broken}] for every producer->consumer of twins."""
        out = []
        for (producer, consumer, fmt), entry in sorted(self._table.items(), key=lambda kv: tuple(map(str, kv[0]))):
            arches = [parse_id(e)["arch"] for e in (producer, consumer)]
            out.append({"producer": producer, "consumer": consumer, "format": fmt,
                        "words": [word_text(a) for a in arches], "counts": dict(entry["counts"]),
                        "broken": sorted(entry["broken"], key=lambda b: str(b["estimator"]))})
        return out


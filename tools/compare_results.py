"""Compare two runs' results.json.gz cell for cell: python tools/compare_results.py BEFORE AFTER.

Cells are matched by producer, consumer, estimator and format (their keys differ whenever the
inside code does); each pair is compared on its outcome, its differences, its error, its warnings
and every call's status. Exits 1 when any cell differs, and prints the first differences."""

import re
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.results import file as results_file  # noqa: E402

# skl2onnx names every graph it converts with a fresh uuid4: two dumps of one model differ there.
GRAPH_NAME = re.compile(r"graph '[0-9a-f]{32}'")
COMPARED = ("status", "max_abs", "max_rel", "warnings", "untrusted", "type_changes", "state", "grid")


def _facts(cell):
    """What a cell says, without what legitimately differs between runs (keys, times)."""
    error = cell.get("error") or {}
    calls = {c: r.get("status") for c, r in (cell.get("methods") or {}).items()}
    return dict({k: cell.get(k) for k in COMPARED}, error_type=error.get("type"),
                error_message=GRAPH_NAME.sub("graph '<uuid>'", error.get("message") or ""), calls=calls, refit=cell.get("refit"),
                known=bool(cell.get("known")))


def cells(path):
    """{(producer, consumer, estimator, format): cell} of one results file."""
    return {(c["producer"], c["consumer"], c["estimator"], c["format"]): c
            for c in results_file.read(path)["cells"]}


def main(argv):
    before, after = cells(argv[0]), cells(argv[1])
    only_before, only_after = sorted(before.keys() - after.keys()), sorted(after.keys() - before.keys())
    differ = [k for k in sorted(before.keys() & after.keys()) if _facts(before[k]) != _facts(after[k])]
    print(f"cells: {len(before):,} before, {len(after):,} after, {len(before.keys() & after.keys()):,} in both")
    print(f"only before: {len(only_before)}, only after: {len(only_after)}, different: {len(differ)}")
    for key in differ[:20]:
        b, a = _facts(before[key]), _facts(after[key])
        print(" ", " ".join(key), {f: (str(b[f])[:200], str(a[f])[:200]) for f in b if b[f] != a[f]})
    for key in (only_before + only_after)[:10]:
        print("  unmatched", " ".join(key))
    # The outcomes, so that a comparison says what it covered (pending: never loaded in either run).
    for name, side in (("before", before), ("after", after)):
        counts = Counter(c.get("status") for c in side.values())
        print(f"{name}:", ", ".join(f"{status} {n:,}" for status, n in counts.most_common()))
    return 1 if differ or only_before or only_after else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

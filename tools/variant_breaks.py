"""Cells that break only when an estimator is fitted another way: python tools/variant_breaks.py
RESULTS [BASE_RESULTS].

A variant entry (Ridge.frame, Ridge.sparse, ...) is matched with its base entry (Ridge) of the same
producer, consumer and format, in the same results or in a second file (another run of the same
environments). It prints the pairs whose base cell survives (identical, close or warning) while the
variant fails (mismatch or worse), grouped by way and by the variant's error, and exits 0."""

import sys
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.report.texts import BAD, OK, first_line  # noqa: E402
from harness.results import file as results_file  # noqa: E402


def _cells(path):
    """{(producer, consumer, estimator, format): cell} of one results file, canaries left out."""
    header, cells = results_file.open_results(path)
    return {(c["producer"], c["consumer"], c["estimator"], c["format"]): c for c in cells if not c.get("canary")}


def breaks(cells, base_cells):
    """[(way, variant cell, base cell)] where only the variant fails."""
    out = []
    for (producer, consumer, estimator, fmt), cell in sorted(cells.items()):
        if "." not in estimator:
            continue
        base_name, way = estimator.rsplit(".", 1)
        base = base_cells.get((producer, consumer, base_name, fmt))
        if base and base.get("status") in OK and cell.get("status") in BAD:
            out.append((way, cell, base))
    return out


def main(argv):
    cells = _cells(argv[0])
    base_cells = {**cells, **_cells(argv[1])} if len(argv) > 1 else cells
    found = breaks(cells, base_cells)
    compared = sum(1 for k in cells if "." in k[2] and (k[0], k[1], k[2].rsplit(".", 1)[0], k[3]) in base_cells)
    print(f"variant cells with a base cell: {compared:,}; failing where the base survives: {len(found):,}")
    by_way = defaultdict(Counter)
    for way, cell, _ in found:
        error = cell.get("error") or {}
        why = first_line(f"{error.get('type', '')}: {error.get('message', '')}".strip(": "))[:140]
        by_way[way][(cell["status"], why or "(outputs differ)", cell["estimator"].rsplit(".", 1)[0])] += 1
    for way, counter in sorted(by_way.items()):
        print(f"\n{way}: {sum(counter.values())} cells")
        for (status, why, estimator), n in counter.most_common(40):
            print(f"  {n:4d}  {status:13s}  {estimator:32s}  {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

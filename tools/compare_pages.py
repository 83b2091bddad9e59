"""Compare two rendered reports: python tools/compare_pages.py BEFORE/index.html AFTER/index.html.

Prints whether the pages' embedded data are equal apart from their format number, and the lines
of the pages outside the data that differ (the script and the style, when a change touched them).
Exits 1 when the data differ."""

import difflib
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from harness.report import columns  # noqa: E402

DATA = re.compile(r'(<script type="application/json" id="report-data">)(.*?)(</script>)', re.S)


def split(path):
    """(the page's data without its format number, one value per row in every column (format 5
    sends some sparse), that number, the page without its data)."""
    text = open(path, encoding="utf-8").read()
    found = DATA.search(text)
    data = json.loads(found.group(2))
    data["r"] = columns.rows_of(data)
    return data, data.pop("v", None), DATA.sub(r"\1\3", text)


def main(argv):
    (before, v_before, page_before), (after, v_after, page_after) = split(argv[0]), split(argv[1])
    rows = len(after.get("r", {}).get("s", ""))
    print(f"format {v_before} -> {v_after}; {rows:,} rows; data equal apart from the format: {before == after}")
    for line in difflib.unified_diff(page_before.splitlines(), page_after.splitlines(), lineterm="", n=0):
        if line.startswith(("+", "-")) and not line.startswith(("+++", "---")):
            print(" ", line[:160])
    return 0 if before == after else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Inside a container: load and predict every cell of a task file in this one process, with no
fork, no timeout and no comparison: the baseline the load stage's per-cell cost is measured against.

python /mnt/bench/inprocess.py TASKS.json ARTIFACTS  (Python >= 3.9; prints one JSON line)
"""

import json
import os
import sys
import time
import warnings

sys.path.insert(0, "/opt/harness")
from inside.load import isolate  # noqa: E402

isolate.limit_threads_env()
isolate.warm_up()  # the same imports the load stage does once, outside the timed loop
from inside import data  # noqa: E402
from inside.load import loaders  # noqa: E402
from inside.load import read_tasks  # noqa: E402


def main(tasks_path, artifacts):
    tasks = read_tasks(tasks_path)
    trusted = frozenset(tasks.get("skops_trusted") or ())
    seconds, errors = 0.0, 0
    for cell in tasks["cells"]:
        X = data.dataset(cell["task"])
        start = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if not loaders.missing_library(cell["format"]):
                    model, _ = loaders.load(cell["format"], os.path.join(artifacts, cell["file"]), trusted)
                    loaders.outputs(model, cell["format"], X)
        except Exception:  # noqa: BLE001 - counted: the load stage records these as outcomes
            errors += 1
        seconds += time.perf_counter() - start
    print(json.dumps({"cells": len(tasks["cells"]), "seconds": seconds, "errors": errors}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

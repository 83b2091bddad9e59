"""The load stage against a container per artifact (throughput) and against loading in one
process with no isolation (overhead), on the same artifacts and the same consumer."""

import json
import random
import tempfile
import time
from pathlib import Path

from harness.results import cells as cells_mod
from harness.envs import engine
from harness.stages import load as loads, trust
from harness.report import collect as merge
from harness.inside.schema import SCHEMA_VERSION
from harness.core.files import write_json
from harness.envs.runner import THREAD_ENV, Limits
from harness.stages.tree import INSIDE, inside_hash

BENCH = Path(__file__).resolve().parent
CONSUMER = "skl1.6.1-py3.11-np2-amd64"


def _todo(run, consumer):
    """The consumer's cells with its results file emptied: what a first load computes."""
    run.tree.results(consumer.id).unlink(missing_ok=True)
    producers = merge.dumped_producers(run.matrix, run.tree)
    plan = loads.plan_env(run.matrix, consumer, run.builds[consumer.id], producers, run.tree)
    todo = [group[0] for group in cells_mod.dedupe(plan.todo)]  # identical bytes load once, in every way below
    return plan, todo


def harness_way(run, consumer, todo):
    """Seconds for the load stage (one container, a fork per cell) over todo."""
    run.tree.results(consumer.id).unlink(missing_ok=True)
    start = time.perf_counter()
    loaded = loads.load_env(run.runner, run.matrix, consumer, run.builds[consumer.id],
                            loads.Plan(tuple(todo), 0, tuple(todo)), run.tree)
    seconds = time.perf_counter() - start
    assert loaded.ok and loaded.computed == len(todo), loaded.error
    return seconds


def naive_way(run, consumer, sample):
    """Seconds per cell when every artifact gets a container of its own (same sandbox, same loader)."""
    start = time.perf_counter()
    for cell in sample:
        run.tree.results(consumer.id).unlink(missing_ok=True)
        loaded = loads.load_env(run.runner, run.matrix, consumer, run.builds[consumer.id],
                                loads.Plan((cell,), 0, (cell,)), run.tree)
        assert loaded.ok, loaded.error
    return (time.perf_counter() - start) / len(sample)


def _in_image(run, consumer, todo, command):
    """(stdout, seconds) of command in a sandboxed container of the consumer's image, with todo as
    /mnt/tasks/tasks.json and the artifacts at /mnt/artifacts, as the load stage mounts them."""
    with tempfile.TemporaryDirectory() as tmp:
        tasks = Path(tmp) / "tasks.json"
        records = loads.ProducerRecords(run.tree)
        write_json(tasks, {"schema": SCHEMA_VERSION, "consumer": consumer.id, **trust.policy(),
                           "cells": [cell.to_task(records.get(cell)["input_sha256"]) for cell in todo]})
        tasks.chmod(0o644)
        Path(tmp).chmod(0o755)
        mounts = [(str(INSIDE), "/opt/harness/inside", True), (str(BENCH), "/mnt/bench", True),
                  (str(run.tree.root / "artifacts"), "/mnt/artifacts", True), (tmp, "/mnt/tasks", True)]
        limits = Limits()
        start = time.perf_counter()
        code, out, err = engine.run(
            run.runner.client, run.builds[consumer.id].tag, command, mounts=mounts,
            environment=dict(THREAD_ENV, **dict(run.builds[consumer.id].runtime), PYTHONPATH="/opt/harness", HOME="/tmp"),
            user=limits.user,
            mem_limit="8g", pids_limit=limits.pids, timeout=3600, sandbox=True)
        seconds = time.perf_counter() - start
    assert code == 0, err[-2000:]
    return out, seconds


def in_process(run, consumer, todo):
    """Seconds for loading and predicting todo in one process of the consumer's image, no isolation."""
    out, _ = _in_image(run, consumer, todo, ["python", "/mnt/bench/inprocess.py", "/mnt/tasks/tasks.json", "/mnt/artifacts"])
    return json.loads(out.strip().splitlines()[-1])


def loader_way(run, consumer, todo, rehearse):
    """{"wall", "inside", "rehearsal"}: the loader alone over todo in one container, with or without
    its rehearsal (wall seconds, container start included; the cells' own seconds summed)."""
    command = ["python", "-m", "inside.load", "--tasks", "/mnt/tasks/tasks.json", "--artifacts", "/mnt/artifacts",
               "--require-init", *([] if rehearse else ["--no-rehearsal"])]
    out, seconds = _in_image(run, consumer, todo, command)
    records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    cells = [r for r in records if r.get("event") == "cell"]
    assert len(cells) == len(todo), "the loader answered %d of %d cells" % (len(cells), len(todo))
    return {"wall": seconds, "inside": sum(r["seconds"] for r in cells), "rehearsal": records[0].get("rehearsal")}


CONSUMERS = {"load": CONSUMER, "load-emulated": "skl1.6.1-py3.11-np2-arm64"}


def measure(run, naive_sample=30, seed=0, consumer_id=None, limit=0):
    """Every figure of this benchmark as a dict (seconds and ratios); limit > 0 measures a seeded
    sample of that many cells (the same cells in every way)."""
    wanted = consumer_id or CONSUMERS.get(run.matrix.name, CONSUMER)
    consumer = next(env for env in run.matrix.envs if env.id == wanted)
    plan, todo = _todo(run, consumer)
    if 0 < limit < len(todo):
        todo = sorted(random.Random(seed).sample(todo, limit), key=todo.index)
    sample = random.Random(seed).sample(todo, min(naive_sample, len(todo)))
    naive = naive_way(run, consumer, sample)
    harness = harness_way(run, consumer, todo)
    alone = in_process(run, consumer, todo)
    plain, rehearsed = loader_way(run, consumer, todo, False), loader_way(run, consumer, todo, True)
    per_cell = harness / len(todo)
    inside_per_cell = sum(r.get("seconds", 0) for r in cells_mod.read_results(run.tree.results(consumer.id)).values())
    return {
        "consumer": consumer.id, "cells": len(plan.wanted), "loaded": len(todo), "inside": inside_hash(),
        "harness_seconds": round(harness, 2), "harness_cells_per_s": round(len(todo) / harness, 1),
        "naive_sample": len(sample), "naive_seconds_per_cell": round(naive, 3),
        "throughput_ratio": round(naive / per_cell, 1),
        "in_process_seconds": round(alone["seconds"], 2), "in_process_errors": alone["errors"],
        "in_process_per_cell_ms": round(1000 * alone["seconds"] / len(todo), 2),
        "harness_per_cell_ms": round(1000 * per_cell, 2),
        "loader_per_cell_ms": round(1000 * inside_per_cell / len(todo), 2),
        "overhead_ratio": round(per_cell / (alone["seconds"] / len(todo)), 2),
        "overhead_ratio_inside": round(inside_per_cell / alone["seconds"], 2),
        "alone_per_cell_ms": {way: {k: round(1000 * r[k] / len(todo), 2) for k in ("wall", "inside")}
                               for way, r in (("plain", plain), ("rehearsed", rehearsed))},
        "rehearsal": rehearsed["rehearsal"],
        "rehearsal_ratio": {k: round(rehearsed[k] / plain[k], 3) for k in ("wall", "inside")},
    }

"""Every benchmark, side by side in one run, printing ratios: python -m bench [--skip NAME ...].

Figures go to stdout and to .cache/bench/last.json; BENCHMARKS.md says what they were on this machine.
"""

import argparse
import json
import platform
import sys
import time
from pathlib import Path

from harness.config import matrix as matrix_mod
from harness.core.cache import Cache
from harness.core.files import write_json

BENCH = Path(__file__).resolve().parent
PARTS = ("load", "incremental", "whole", "builds", "report")


def _load(args):
    from bench import load_speed
    from harness.workflow import Run

    run = Run(matrix_mod.load(BENCH / "bench.toml", args.load_matrix), backend="docker",
              reports=Cache.default().root / "bench" / "reports")
    run.dump()
    r = load_speed.measure(run, consumer_id=args.load_consumer, limit=args.load_cells,
                           naive_sample=args.load_naive)
    print(f"consumer {r['consumer']}: {r['loaded']} cells ({r['cells']} before identical bytes were merged) in "
          f"{r['harness_seconds']} s = {r['harness_cells_per_s']} cells/s, container start included")
    print(f"  container per artifact: {r['naive_seconds_per_cell']} s a cell over {r['naive_sample']} cells")
    print(f"  THROUGHPUT RATIO {r['throughput_ratio']}x (goal >= 50x)")
    print(f"  in one process, no isolation: {r['in_process_per_cell_ms']} ms a cell ({r['in_process_errors']} errors);"
          f" load stage: {r['harness_per_cell_ms']} ms a cell wall, {r['loader_per_cell_ms']} ms inside the loader")
    print(f"  OVERHEAD RATIO {r['overhead_ratio']}x wall, {r['overhead_ratio_inside']}x per cell inside (goal <= 2x)")
    per = r["alone_per_cell_ms"]
    print(f"  the loader alone, rehearsed ({r['rehearsal']}) against not: {per['rehearsed']['wall']} ms a cell wall "
          f"against {per['plain']['wall']}, {per['rehearsed']['inside']} ms inside against {per['plain']['inside']}")
    print(f"  REHEARSAL RATIO {r['rehearsal_ratio']['wall']} wall, {r['rehearsal_ratio']['inside']} inside")
    return r


def _incremental(args):
    from bench import incremental

    r = incremental.measure(matrix_mod.load(BENCH / "bench.toml", "incremental"))
    print(f"incremental: the whole {r['n']}-environment matrix {r['full_seconds']} s ({r['full_cells']} cells); "
          f"adding {r['added']} to the other {r['n'] - 1}: {r['added_seconds']} s ({r['added_cells']} cells)")
    print(f"  INCREMENTAL RATIO {r['time_ratio']} in time, {r['cells_ratio']} in cells (goal ~ (2N-1)/N^2 = "
          f"{r['goal_ratio']})")
    return r


def _whole(args):
    from bench import whole_runs

    r = whole_runs.measure(matrix_mod.load(args.file, "default"))
    if r is None:
        print("whole runs: reports/default has no results yet; run `./run matrix` first")
        return None

    def fmt(stages):
        return ", ".join(f"{k} {v[0]:.0f} s ({100 * v[1]:.0f}%)" for k, v in stages.items())

    print(f"default matrix, warm (nothing changed): {r['warm_seconds']} s: {fmt(r['warm_stages'])}")
    if r["cold_stages"]:
        print(f"  slowest recorded run ({r['cold_finished']}): {r['cold_seconds']} s: {fmt(r['cold_stages'])}")
        print(f"  WARM/COLD RATIO {r['warm_seconds'] / r['cold_seconds']:.3f}")
    return r


def _builds(args):
    from bench import image_builds

    r = image_builds.measure(matrix_mod.load(args.file, "default"))
    print(f"image build, no layer cache, {' vs '.join(r['envs'])}: "
          + ", ".join(f"{k} {v} s" for k, v in r["seconds"].items()))
    for arch, ratio in r["recipe_over_stages"].items():
        print(f"  {arch}: RECIPE/STAGES BUILD RATIO {ratio} (harness/envs/recipe.py against bench/Dockerfile.stages)")
    print(f"  ARM64/AMD64 BUILD RATIO {r['arm64_over_amd64']}x (arm64 under QEMU emulation)")
    return r


def _report(args):
    from bench import report_synthetic

    out = {}
    for size in (10_000, 100_000):
        out[size] = report_synthetic.measure(size)
        r = out[size]
        print(f"report of {size:,} synthetic cells: render {r['seconds']:.2f} s, index.html {r['html_mb']:.2f} MB, "
              f"results.json.gz {r['json_mb']:.1f} MB")
    print(f"  RENDER RATIO 100k/10k {out[100_000]['seconds'] / out[10_000]['seconds']:.1f}x, "
          f"PAGE RATIO {out[100_000]['html_mb'] / out[10_000]['html_mb']:.1f}x")
    return out


def main(argv=None):
    """Run the chosen parts; exit 1 when one fails (the others still run)."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--file", default="matrix.toml")
    parser.add_argument("--skip", nargs="*", default=[], choices=PARTS)
    parser.add_argument("--load-matrix", default="load", help="the load part's matrix in bench.toml "
                        "(load-emulated: the same producers, an arm64 consumer under qemu)")
    parser.add_argument("--load-consumer", default=None, help="the consumer measured (default: the matrix's own)")
    parser.add_argument("--load-cells", type=int, default=0,
                        help="a seeded sample of this many cells (0: all; under emulation all take an hour)")
    parser.add_argument("--load-naive", type=int, default=30, help="cells given a container each")
    args = parser.parse_args(argv)
    figures = {"machine": {"platform": platform.platform(), "cpus": _cpus(), "python": platform.python_version()}}
    failed = []
    for name in PARTS:
        if name in args.skip:
            continue
        start = time.perf_counter()
        try:
            figures[name] = globals()[f"_{name}"](args)
        except Exception as exc:  # noqa: BLE001 - one broken part must not hide the others' figures
            failed.append(name)
            print(f"{name}: FAILED: {type(exc).__name__}: {exc}")
        print(f"  ({name}: {time.perf_counter() - start:.0f} s)\n", flush=True)
    write_json(Cache.default().root / "bench" / "last.json", figures)
    print(json.dumps({k: v for k, v in figures.items() if k == "machine"}))
    return 1 if failed else 0


def _cpus():
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


if __name__ == "__main__":
    sys.exit(main())

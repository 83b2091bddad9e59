"""A synthetic run tree of N cells (manifests, build and dump outcomes, every consumer's cells
file, the last run's results), then its merge and report in a process of their own, timed, with
that process's peak memory: python bench/merge_synthetic.py [N ...] [--keep DIR]; with --collector K,
K pairs of merges of one tree, Python's cycle collector left on against paused (as the merge does);
with --adding-one, the merge after an environment was added against one that keeps no block.

The cells and their outcomes are report_synthetic's; here they arrive as the load stage leaves
them, so the figure is the whole of `python -m harness report` on a tree of that size.
"""

import argparse
import contextlib
import dataclasses
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import report_synthetic as synthetic  # noqa: E402
from harness.config import matrix as matrix_mod  # noqa: E402
from harness.core.files import write_json  # noqa: E402
from harness.envs.images import Built, consumer_identity  # noqa: E402
from harness.inside.schema import SCHEMA_VERSION  # noqa: E402
from harness.results import cells as cells_mod, file as results_file  # noqa: E402
from harness.stages.tree import RunTree, inside_hash  # noqa: E402

TEMPLATE = ROOT / "tests" / "data" / "two-envs.toml"


def matrix_of(results):
    """The matrix of a synthetic results dict: its environments, formats and tolerances."""
    base = matrix_mod.load(TEMPLATE, "two")
    envs = tuple(matrix_mod.Env(e["sklearn"], e["python"], e["numpy"], e["arch"], e["numpy_pin"], "")
                 for e in results["environments"])
    return dataclasses.replace(base, name="synthetic", envs=envs, formats=tuple(results["formats"]), known=(),
                               dropped=())


def _manifest(producer, cells, producer_na):
    """A producer's manifest: every estimator and format it dumped (no files: the merge reads none)."""
    estimators = {}
    for cell in cells:
        if cell["producer"] == producer:
            est = estimators.setdefault(cell["estimator"], {
                "name": cell["estimator"], "family": cell["family"], "task": "classification",
                "class": "sklearn.X", "outputs": {"file": f"{cell['estimator']}/outputs.json", "sha256": "0" * 64},
                "formats": {}})
            est["formats"][cell["format"]] = {"status": "ok", "file": f"{cell['estimator']}/{cell['format']}.bin",
                                              "sha256": f"{abs(hash((producer, cell['estimator'], cell['format']))):064x}"[:64],
                                              "untrusted_types": None}
    for na in producer_na:
        if na["producer"] == producer and na["estimator"] in estimators:
            estimators[na["estimator"]]["formats"][na["format"]] = {"status": na["status"], "reason": na["reason"]}
    return {"estimators": list(estimators.values())}


def write_tree(root, n_cells, seed=0):
    """Write the tree under root and return its matrix."""
    results = synthetic.make_results(n_cells, seed=seed)
    matrix = matrix_of(results)
    tree = RunTree(Path(root) / "synthetic")
    write_json(Path(root) / "matrix.json", {k: results[k] for k in ("environments", "formats")})
    inside = inside_hash()
    outcome = {(c["producer"], c["consumer"], c["estimator"], c["format"]): c for c in results["cells"]}
    producers = [e["id"] for e in results["environments"] if e["dump"] and e["dump"]["ok"]]
    for env in results["environments"]:
        if not env["build"]["ok"]:
            continue
        tag = env["build"]["tag"]
        tree.save_status("build", Built(env["id"], True, tag).to_json())
        if env["id"] in producers:
            write_json(tree.manifest(env["id"]), _manifest(env["id"], results["cells"], results["producer_na"]))
            tree.save_status("dump", dict(env["dump"], env_id=env["id"]))
    for env in results["environments"]:
        if not env["build"]["ok"]:
            continue
        identity = consumer_identity(env["build"]["tag"], {})
        path = tree.results(env["id"])
        cells_mod.open_for_append(path)
        with open(path, "w") as out:
            for cell in cells_mod.cells_for(identity, producers, tree, matrix, inside, consumer=env["id"]):
                record = outcome.get((cell.producer, env["id"], cell.estimator, cell.format))
                if record is not None and record["status"] != "pending":
                    out.write(json.dumps(dict(record, key=cell.key, schema=SCHEMA_VERSION)) + "\n")
    previous = synthetic.make_previous(results)  # the last run's results, as its merge left them
    results_file.write(tree.results_json, previous)
    results_file.write_parquet(tree.results_parquet, previous)
    return matrix


def _child(root, collector_on=False, without=None):
    """The measured part: the merge and the report of the tree, as `python -m harness report` does
    (without: of the matrix without that environment)."""
    from harness.report import collect, render

    if collector_on:  # the merge as it was before it paused the collector
        collect.collector_paused = contextlib.nullcontext
    matrix = matrix_of(json.loads((Path(root) / "matrix.json").read_text()))
    if without:
        matrix = dataclasses.replace(matrix, envs=tuple(e for e in matrix.envs if e.id != without))
    tree = RunTree(Path(root) / "synthetic")
    start = time.perf_counter()
    merged = collect.write_results(matrix, tree, [], model=True)
    merged_at = time.perf_counter()
    render.render(tree.root, model=merged.pop("model"))
    done = time.perf_counter()
    print(json.dumps({"cells": merged["cells"], "merge": merged_at - start, "render": done - merged_at,
                      "peak_mb": _own_peak_mb(), "blocks": merged["blocks"]}))


def _own_peak_mb():
    """This process's peak resident memory since its exec (VmHWM). ru_maxrss is not it: a child
    that subprocess starts with vfork counts the parent's pages until it execs, and the parent
    holds the whole synthetic tree."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run_child(root, *flags):
    """The figures _child prints, measured in a process of its own on the tree under root."""
    out = subprocess.run([sys.executable, __file__, "--child", str(root), *flags], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.splitlines()[-1])


def measure(n_cells, keep=None):
    """{"cells", "merge", "render", "peak_mb", "files_mb"} of a tree of about n_cells cells."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(keep or tmp) / f"merge-{n_cells}"
        write_tree(root, n_cells)
        figures = _run_child(root)
        tree = root / "synthetic"
        figures["files_mb"] = {name: (tree / name).stat().st_size / 1e6 for name in
                               (results_file.NAME, results_file.PREVIOUS, results_file.PARQUET, "index.html")}
        return figures


def collector_pairs(n_cells, pairs):
    """[(merge seconds with the collector on, paused)] of copies of one tree of about n_cells cells."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        pristine = Path(tmp) / "pristine"
        write_tree(pristine, n_cells)
        for _ in range(pairs):
            pair = []
            for flag in (["--collector-on"], []):
                run = Path(tmp) / "run"
                shutil.rmtree(run, ignore_errors=True)
                shutil.copytree(pristine, run)
                pair.append(_run_child(run, *flag)["merge"])
            out.append(tuple(pair))
    return out


def adding_one(n_cells):
    """Merge + render of a tree whose last producer was just added (its lines appended to every
    consumer's results after a merge without it), against the same tree merged with no blocks kept."""
    from harness.report import blocks

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "grown"
        matrix = write_tree(root, n_cells)
        tree = RunTree(root / "synthetic")
        producers = [e.id for e in matrix.envs if tree.manifest(e.id).exists()]
        added, held = producers[-1], {}
        for env in matrix.envs:  # the added producer's cells are not loaded yet
            path = tree.results(env.id)
            if env.id != added and path.exists():
                lines = path.read_text().splitlines(keepends=True)
                held[path] = [line for line in lines if json.loads(line)["producer"] == added]
                path.write_text("".join(line for line in lines if json.loads(line)["producer"] != added))
        before = _run_child(root, "--without", added)
        for path, lines in held.items():  # the load stage appends them
            with open(path, "a") as out:
                out.writelines(lines)
        scratch = Path(tmp) / "scratch"
        shutil.copytree(root, scratch)
        shutil.rmtree(scratch / "synthetic" / blocks.FOLDER)
        full = _run_child(scratch)
        grown = _run_child(root)
    return {"added": added, "before": before, "full": full, "grown": grown}


def main(argv=None):
    """Build, merge and render synthetic trees; print time, peak memory and file sizes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[100_000])
    parser.add_argument("--keep", help="write the trees under this folder instead of a temporary one")
    parser.add_argument("--collector", type=int, metavar="K", help="K pairs: the cycle collector on against paused")
    parser.add_argument("--adding-one", action="store_true",
                        help="the merge after one environment was added, against one that keeps no block")
    parser.add_argument("--child", nargs=1, help=argparse.SUPPRESS)
    parser.add_argument("--collector-on", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--without", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args.child[0], args.collector_on, args.without)
    if args.adding_one:
        for size in args.sizes:
            r = adding_one(size)
            full, grown = r["full"], r["grown"]
            print(f"{full['cells']:>8} cells, {r['added']} added: merge + render reading every cell "
                  f"{full['merge'] + full['render']:5.1f} s, keeping blocks {grown['merge'] + grown['render']:5.1f} s "
                  f"({grown['blocks']['kept']} kept, {grown['blocks']['made']} made), ratio "
                  f"{(grown['merge'] + grown['render']) / (full['merge'] + full['render']):.3f}; "
                  f"peak {full['peak_mb']:.0f} MB against {grown['peak_mb']:.0f} MB")
        return None
    if args.collector:
        for size in args.sizes:
            pairs = collector_pairs(size, args.collector)
            for on, paused in pairs:
                print(f"{size:>8} cells  merge, collector on {on:5.1f} s  paused {paused:5.1f} s  ratio {paused / on:.2f}")
            ons, pauses = sorted(p[0] for p in pairs), sorted(p[1] for p in pairs)
            print(f"median ratio {pauses[len(pauses) // 2] / ons[len(ons) // 2]:.2f}")
        return None
    for size in args.sizes:
        r = measure(size, args.keep)
        files = ", ".join(f"{name} {mb:.1f} MB" for name, mb in r["files_mb"].items())
        print(f"{r['cells']:>8} cells  merge {r['merge']:5.1f} s  render {r['render']:5.1f} s  "
              f"total {r['merge'] + r['render']:5.1f} s  peak {r['peak_mb']:6.0f} MB  ({files})")


if __name__ == "__main__":
    main()

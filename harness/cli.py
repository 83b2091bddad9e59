"""The command line: one verb per stage, HarnessError turned into one line and an exit code."""

import argparse
import json
import sys

from .config import matrix as matrix_mod
from .core.errors import HarnessError, ProofError, ResolutionError, SelectionError
from .core.files import read_json
from .config.selection import select
from .core.untrusted import term_text


USAGE_EXIT = 64  # EX_USAGE: argparse's own 2 would read as a matrix.toml mistake


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake as one line and USAGE_EXIT."""

    def error(self, message):
        self.exit(USAGE_EXIT, f"error: {self.prog}: {message} (`{self.prog} --help` shows the usage)\n")


def _parser():
    """The argparse tree."""
    parser = _Parser(prog="python -m harness", description=__doc__)
    parser.add_argument("--file", default="matrix.toml", help="the matrix file (default: matrix.toml)")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB", parser_class=_Parser)

    show = verbs.add_parser("list", help="print environment ids and dropped combinations")
    show.add_argument("--matrix", help="only this matrix (default: every matrix in the file)")
    show.add_argument("--json", action="store_true", help="machine-readable output for CI job matrices")

    stages = (("resolve", "download and pin each environment's wheels"),
              ("build", "resolve wheels and build one image per environment"),
              ("dump", "build, then fit the catalogue and write every format in each environment"),
              ("load", "load every dumped artifact in each consumer environment"),
              ("run", "the whole matrix: build, dump, load, merge, report"))
    for verb, text in stages:
        sub = verbs.add_parser(verb, help=text)
        sub.add_argument("--matrix", default="default", help="which [matrix.NAME] (default: default)")
        sub.add_argument("envs", nargs="*", metavar="ENV", help="environment ids or globs (default: all)")
        sub.add_argument("--jobs", type=int, default=2, help="parallel downloads, builds and runs (default: 2)")
        sub.add_argument("--refresh", action="store_true", help="resolve again even when a lock is fresh")
        if verb != "resolve":
            sub.add_argument("--backend", choices=("auto", "docker", "venv"), default="auto",
                             help="docker images, or virtualenvs when no engine answers (default: auto)")
            sub.add_argument("--reports", default="reports", help="where run trees live (default: reports)")
        if verb == "load":
            sub.add_argument("--only", metavar="PRODUCER/ESTIMATOR/FORMAT",
                             help="recompute and print only the cells matching this glob")
            sub.add_argument("--shard", metavar="I/N", help="compute only the I-th of N slices of the cells")
    check = verbs.add_parser("check", help="will MY model file load and predict the same in these environments?")
    check.add_argument("files", nargs="+", metavar="FILE", help="pickle, joblib, cloudpickle, skops or ONNX files")
    check.add_argument("--inspect", action="store_true",
                       help="only print what each file needs, read without running it (no engine needed)")
    check.add_argument("--matrix", default="default", help="whose environments to check in (default: default)")
    check.add_argument("--consumers", metavar="GLOB", help="only environments whose id matches (default: all)")
    check.add_argument("--sample", metavar="X.npy|X.csv", help="rows to predict on (default: rows made to the "
                       "model's fitted width)")
    check.add_argument("--reference", metavar="ENV", help="the environment whose outputs count as right "
                       "(default: the one with the scikit-learn version the file records)")
    check.add_argument("--strict", action="store_true", help="a consumer that warns fails too")
    check.add_argument("--json", action="store_true", help="print the answer as JSON")
    check.add_argument("--html", metavar="PATH", help="also write the answer as an HTML page")
    check.add_argument("--backend", choices=("auto", "docker", "venv"), default="auto",
                       help="docker images, or virtualenvs when no engine answers (default: auto)")
    check.add_argument("--jobs", type=int, default=2, help="parallel downloads and builds (default: 2)")
    check.add_argument("--refresh", action="store_true", help="resolve again even when a lock is fresh")
    check.add_argument("--reports", default="reports", help="where check trees live (default: reports)")
    merge = verbs.add_parser("merge", help="combine results trees from other machines (shards), then report")
    merge.add_argument("--matrix", default="default", help="which [matrix.NAME] (default: default)")
    merge.add_argument("--reports", default="reports", help="where run trees live (default: reports)")
    merge.add_argument("sources", nargs="+", metavar="TREE", help="results trees (reports/<matrix> folders)")
    report = verbs.add_parser("report", help="merge the results tree and render the HTML report")
    report.add_argument("--matrix", default="default", help="which [matrix.NAME] (default: default)")
    report.add_argument("--reports", default="reports", help="where run trees live (default: reports)")
    for sub in verbs.choices.values():  # after the verb too: nox sessions pass their arguments there
        sub.add_argument("--file", default=argparse.SUPPRESS, help="the matrix file (default: matrix.toml)")
    return parser


def main(argv=None):
    """Run the CLI; return the exit code."""
    args = _parser().parse_args(argv)
    try:
        return VERBS[args.verb](args) or 0
    except HarnessError as exc:
        print(f"error: {term_text(exc.line())}", file=sys.stderr)  # messages quote paths and text from artifacts
        return exc.exit_code
    except BrokenPipeError:  # `python -m harness list | head`
        return 0
    except KeyboardInterrupt:
        print("interrupted: what finished is kept; run the same command again to resume", file=sys.stderr)
        return 130


def cmd_list(args):
    """Print every matrix's environments and dropped combinations."""
    matrices = matrix_mod.load_all(args.file)
    if args.matrix:
        matrices = {args.matrix: matrix_mod.load(args.file, args.matrix)}
    if args.json:
        print(json.dumps({name: {"envs": [e.id for e in m.envs],
                                 "dropped": {d.id: d.reason for d in m.dropped}}
                          for name, m in matrices.items()}, indent=1))
        return 0
    for name, m in matrices.items():
        print(f"{name}: {len(m.envs)} environments, {len(m.dropped)} dropped")
        for env in m.envs:
            print(f"  {env.id}")
        for drop in m.dropped:
            print(f"  dropped {drop.id}: {drop.reason}")
    return 0


def cmd_resolve(args):
    """Resolve wheels; print one line per environment."""
    from .workflow import resolve_stage

    m = matrix_mod.load(args.file, args.matrix)
    locks = resolve_stage(select(m, args.envs), jobs=args.jobs, refresh=args.refresh)
    failed = [lock for lock in locks if not lock.ok]
    if failed:
        first = failed[0]
        raise ResolutionError(f"{len(failed)} of {len(locks)} environments have no wheels: {first.env_id}: "
                              f"{first.error}", hint="check the pins in matrix.toml against `pip index versions`, "
                              "then run the command again; the other environments' locks are kept")
    return 0


def _run(args):
    """A pipeline Run of the selected environments."""
    from .workflow import Run

    from .results.combine import parse_shard

    m = matrix_mod.load(args.file, args.matrix)
    shard = parse_shard(args.shard) if getattr(args, "shard", None) else None
    return Run(m, backend=args.backend, jobs=args.jobs, refresh=args.refresh, reports=args.reports,
               shard=shard), select(m, args.envs)


def cmd_build(args):
    """Resolve wheels and build environments."""
    run, selected = _run(args)
    return 0 if all(r.ok for r in run.build(selected)) else 1


def cmd_dump(args):
    """Build and dump."""
    run, selected = _run(args)
    return 0 if all(r.ok for r in run.dump(selected)) else 1


def cmd_load(args):
    """Load every dumped artifact in the selected consumers."""
    run, selected = _run(args)
    return 0 if all(r.ok for r in run.load(selected, only=args.only)) else 1


def cmd_run(args):
    """The whole matrix, then the report."""
    run, selected = _run(args)
    if args.envs:
        raise SelectionError("`run` covers the whole matrix; use dump/load with environment ids")
    _check_proof(run.everything())
    return 0


def cmd_check(args):
    """Inspect each file; unless --inspect, load it in every selected consumer and judge it.
    Exit 0 when every consumer passed, 1 when one did not, 3 for a file that is no model."""
    from .byo import check, inspection

    for path in args.files:
        try:
            info = inspection.inspect(path)
        except OSError as exc:
            raise SelectionError(f"cannot read {path}: {exc.strerror}") from None
        except inspection.NotAModel as exc:
            raise SelectionError(f"{path}: {exc}", hint="check reads pickle, joblib, cloudpickle, skops and ONNX files")
        if args.inspect:
            print(json.dumps(info, indent=1) if args.json else "\n".join(term_text(x) for x in inspection.lines(info)))
    if args.inspect:
        return 0
    from .workflow import Run

    m = matrix_mod.load(args.file, args.matrix)
    consumers = check.select_consumers(m, args.consumers)
    run = Run(m, backend=args.backend, jobs=args.jobs, refresh=args.refresh, reports=args.reports)
    results, tree = check.check_files(run, args.files, consumers, args.sample, args.reference, args.strict,
                                      args.reports)
    answer = check.to_json(results)
    if args.html:
        check.write_html(results, args.html)
    if args.json:
        print(json.dumps(answer, indent=1))
    else:
        print("\n".join(check.table(results)))
        print(f"evidence: {tree.root / 'check.json'}")
    return 0 if answer["passed"] else 1


def cmd_merge(args):
    """Combine shards' trees into this machine's tree, then write results.json.gz and the report."""
    from .results.combine import combine
    from .stages.tree import RunTree

    tree = RunTree.for_matrix(matrix_mod.load(args.file, args.matrix), args.reports)
    skipped = []
    copied, added = combine(tree.root, args.sources, skipped)
    for line in skipped:
        print(f"merge: skipped {term_text(line)}")  # names from another machine's tree
    print(f"merged {len(args.sources)} trees into {tree.root}: {copied} files copied, {added} result lines added")
    return cmd_report(args)


def cmd_report(args):
    """Merge and render without running anything."""
    from .report import collect, render
    from .envs import wheels
    from .core.cache import Cache
    from .stages.tree import RunTree

    m = matrix_mod.load(args.file, args.matrix)
    tree = RunTree.for_matrix(m, args.reports)
    locks = [wheels.Lock.from_json(data) for env in m.envs
             if (data := read_json(Cache.default().lock(env.id)))]
    results = collect.write_results(m, tree, locks, model=True)
    print(render.render(tree.root, model=results.pop("model")))
    _check_proof(results)
    return 0


def _check_proof(results):
    """ProofError when the run's canaries or controls did not come out as expected."""
    proof = results.get("proof") or {}
    if not proof.get("ok", True):
        raise ProofError("the run did not prove it can fail: " + "; ".join(proof.get("problems") or ()))


VERBS = {"check": cmd_check, "list": cmd_list, "resolve": cmd_resolve, "build": cmd_build, "dump": cmd_dump,
         "load": cmd_load, "run": cmd_run, "merge": cmd_merge, "report": cmd_report}

"""The command line: one verb per stage, HarnessError turned into one line and an exit code."""

import argparse
import json
import sys

from . import matrix as matrix_mod
from .errors import HarnessError
from .selection import select


def _parser():
    """The argparse tree."""
    parser = argparse.ArgumentParser(prog="python -m harness", description=__doc__)
    parser.add_argument("--file", default="matrix.toml", help="the matrix file (default: matrix.toml)")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    show = verbs.add_parser("list", help="print environment ids and dropped combinations")
    show.add_argument("--matrix", help="only this matrix (default: every matrix in the file)")
    show.add_argument("--json", action="store_true", help="machine-readable output for CI job matrices")

    for verb, text in (("resolve", "download and pin each environment's wheels"),
                       ("build", "resolve wheels and build one image per environment")):
        sub = verbs.add_parser(verb, help=text)
        sub.add_argument("--matrix", default="default", help="which [matrix.NAME] (default: default)")
        sub.add_argument("envs", nargs="*", metavar="ENV", help="environment ids or globs (default: all)")
        sub.add_argument("--jobs", type=int, default=2, help="parallel pip downloads (default: 2)")
        sub.add_argument("--refresh", action="store_true", help="resolve again even when a lock is fresh")
        if verb == "build":
            sub.add_argument("--backend", choices=("auto", "docker", "venv"), default="auto",
                             help="docker images, or virtualenvs when no engine answers (default: auto)")
    return parser


def main(argv=None):
    """Run the CLI; return the exit code."""
    args = _parser().parse_args(argv)
    try:
        return VERBS[args.verb](args) or 0
    except HarnessError as exc:
        print(f"error: {exc.line()}", file=sys.stderr)
        return exc.exit_code
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
    from .pipeline import resolve_stage

    m = matrix_mod.load(args.file, args.matrix)
    locks = resolve_stage(select(m, args.envs), jobs=args.jobs, refresh=args.refresh)
    return 0 if all(lock.ok for lock in locks) else 1


def cmd_build(args):
    """Resolve wheels and build images."""
    from .pipeline import build_stage, choose_backend

    m = select(matrix_mod.load(args.file, args.matrix), args.envs)
    results = build_stage(m, jobs=args.jobs, refresh=args.refresh, backend=choose_backend(args.backend))
    return 0 if all(r.ok for r in results) else 1


VERBS = {"list": cmd_list, "resolve": cmd_resolve, "build": cmd_build}

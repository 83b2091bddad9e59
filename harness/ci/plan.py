"""GitHub Actions job matrices from `python -m harness list --json`: python -m harness.ci.plan.

Reads the list on stdin and prints `dumps=...` and `loads=...` lines for $GITHUB_OUTPUT: one dump
job per environment, one load job per consumer and shard, each with the runner that fits its arch.
"""

import argparse
import json
import sys

RUNNERS = {"amd64": "ubuntu-latest", "arm64": "ubuntu-24.04-arm"}  # GitHub-hosted labels
# Run on amd64 runners: i386 natively (the kernel runs 32-bit code), s390x under QEMU (no runner).
ON_AMD64 = {"i386": False, "s390x": True}  # arch -> emulated
EMULATED_SHARDS = 4  # load jobs per emulated consumer at least: QEMU runs a cell 5-10x slower


def arch_of(env_id):
    """The arch an environment id ends with (skl1.6.1-py3.11-np2-arm64 -> arm64)."""
    return env_id.rsplit("-", 1)[-1]


def job(env_id, arm64):
    """The matrix entry of one environment: its runner, whether it runs under QEMU, and whether its
    jobs need root and the engine setup (a debootstrapped base)."""
    arch = arch_of(env_id)
    if arch in ON_AMD64:  # root: its base is debootstrapped (no registry image of that arch is used)
        return {"env": env_id, "arch": arch, "runner": RUNNERS["amd64"], "qemu": ON_AMD64[arch], "root": True}
    emulated = arch != "amd64" and arm64 == "qemu"
    return {"env": env_id, "arch": arch, "runner": RUNNERS["amd64" if emulated else arch],
            "qemu": emulated, "root": emulated}


def plan(listing, matrix, shards=1, arm64="native"):
    """(dumps, loads) job matrices for one matrix of a `list --json` listing; an emulated consumer
    gets at least EMULATED_SHARDS load jobs."""
    if matrix not in listing:
        raise SystemExit(f"ci_plan: no matrix {matrix!r} in the listing (have: {', '.join(listing)})")
    envs = listing[matrix]["envs"]
    dumps = [job(env_id, arm64) for env_id in envs]
    loads = []
    for entry in dumps:
        count = max(shards, EMULATED_SHARDS) if entry["qemu"] else shards
        loads += [dict(entry, shard=f"{i}/{count}", slot=f"{i}-of-{count}") for i in range(1, count + 1)]
    return {"include": dumps}, {"include": loads}


def main(argv=None):
    """Print the GitHub outputs; exit 2 on bad input."""
    parser = argparse.ArgumentParser(prog="python -m harness.ci.plan", description=__doc__)
    parser.add_argument("--matrix", default="default")
    parser.add_argument("--shards", type=int, default=1, help="load jobs per consumer (default: 1)")
    parser.add_argument("--arm64", choices=("native", "qemu"), default="native",
                        help="arm64 runners, or QEMU on amd64 runners where none is available")
    parser.add_argument("--check-schema", metavar="RESULTS", help="only exit 1 (saying why) unless RESULTS "
                        "is a results file of this harness's schema")
    args = parser.parse_args(argv)
    if args.check_schema:
        return _check_schema(args.check_schema)
    if args.shards < 1:
        parser.error("--shards must be at least 1")
    try:
        listing = json.load(sys.stdin)
    except ValueError as exc:
        parser.error(f"stdin is not `python -m harness list --json` output: {exc}")
    dumps, loads = plan(listing, args.matrix, args.shards, args.arm64)
    print("dumps=" + json.dumps(dumps, separators=(",", ":")))
    print("loads=" + json.dumps(loads, separators=(",", ":")))
    return 0


def _check_schema(path):
    """0 when path holds results of this schema, else 1 with a line saying what was found."""
    from ..results.file import RESULTS_SCHEMA, other_schema, read
    from ..core.untrusted import term_text

    try:
        # A downloaded artifact: bounded, so a gzip bomb or a deep nesting is refused.
        found = other_schema(read(path))
    except (OSError, ValueError) as exc:  # UntrustedInput is a ValueError
        found = f"unreadable ({type(exc).__name__})"
    if not found:
        return 0
    print(term_text(f"{path}: {found}, this harness writes {RESULTS_SCHEMA}: not compared"), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())

"""What the loader may trust, derived from honest reference dumps and kept in harness/data/trust.json:
the modules it may import before forking, and the exact skops types a file may need.

`python -m harness.stages.trust derive [--keep] TREE...` rebuilds the file from dumped run trees (read on
the host with the same bounded scanner the loader uses; nothing is unpickled or imported); with
--keep, every entry of the current file stays (trees of other versions add to it).
"""

import functools
import hashlib
import json
import sys
import zipfile
from pathlib import Path

from ..inside.load import scan
from ..core.files import write_json
from ..core.source import DATA

POLICY = DATA / "trust.json"
# skops nodes that stand for a callable: never trusted, whatever an honest dump needed.
CALLABLE_NODES = ("FunctionNode", "MethodNode", "PartialNode", "OperatorFuncNode")
# Modules honest dumps name but the loader must not import before forking: tests and entry points.
NEVER_PRELOAD = ("conftest", "tests", "__main__", "_testing", "testing")


@functools.lru_cache(maxsize=1)
def policy():
    """{"preload": [...], "skops_trusted": [...]}: what the task file hands the loader."""
    data = json.loads(POLICY.read_text(encoding="utf-8"))
    return {"preload": sorted(data["preload"]), "skops_trusted": sorted(data["skops_trusted"])}


def policy_hash():
    """A hash of the policy: verdicts depend on it, so cell keys do."""
    return hashlib.sha256(POLICY.read_bytes()).hexdigest()[:16]


def _skops_names(path):
    """({type names}, {callable names}) of an honest skops file's schema.json."""
    types, callables = set(), set()
    with zipfile.ZipFile(path) as zf:
        schema = json.loads(zf.read("schema.json"))

    def walk(node):
        if isinstance(node, dict):
            if "__module__" in node and "__class__" in node:
                name = f"{node['__module__']}.{node['__class__']}"
                (callables if node.get("__loader__") in CALLABLE_NODES else types).add(name)
                if node.get("__loader__") == "FunctionNode" and isinstance(node.get("content"), dict):
                    content = node["content"]
                    callables.add(f"{content.get('module_path')}.{content.get('function')}")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return types, callables


def _preloadable(name):
    return name.split(".")[0] in ("sklearn", "numpy", "scipy", "joblib", "threadpoolctl", "cloudpickle", "skops") \
        and not any(part in NEVER_PRELOAD or part.startswith("test") for part in name.split("."))


def derive(trees, keep=None):
    """The policy from every manifest's artifacts under the given run trees, plus keep's entries
    (an earlier policy) when given; a callable is never trusted either way."""
    preload, types, callables, untrusted = set(), set(), set(), set()
    for tree in trees:
        for manifest in sorted(Path(tree).glob("artifacts/*/manifest.json")):
            folder = manifest.parent
            for est in json.loads(manifest.read_text()).get("estimators", []):
                for fmt, rec in est.get("formats", {}).items():
                    if rec.get("status") != "ok":
                        continue
                    path = folder / rec["file"]
                    preload.update(n for n in scan.artifact_modules(str(path), fmt) if _preloadable(n))
                    if fmt == "skops":
                        found, funcs = _skops_names(path)
                        types |= found
                        callables |= funcs
                        untrusted.update(rec.get("untrusted_types") or ())
    # Trusted: the types the producers' skops reported as untrusted, or that the schemas name,
    # less every callable; the consumer's own audit still decides which of them a file needs.
    if keep:
        preload |= set(keep.get("preload", ()))
        callables |= set(keep.get("refused_callables", ()))
        types |= set(keep.get("skops_trusted", ()))
    trusted = {t for t in (untrusted | types) if t not in callables}
    return {"preload": sorted(preload), "skops_trusted": sorted(trusted),
            "refused_callables": sorted(callables),
            "derived_from": "the reference catalogue's dumps, discovered and variant entries included "
                            "(python -m harness.stages.trust derive --keep)"}


def main(argv=None):
    """python -m harness.stages.trust derive [--keep] TREE...: rewrite harness/data/trust.json."""
    argv = sys.argv[1:] if argv is None else argv
    keep = len(argv) > 1 and argv[1] == "--keep"
    trees = argv[2:] if keep else argv[1:]
    if not argv or argv[0] != "derive" or not trees:
        print("usage: python -m harness.stages.trust derive [--keep] TREE...", file=sys.stderr)
        return 64
    data = derive(trees, json.loads(POLICY.read_text(encoding="utf-8")) if keep else None)
    write_json(POLICY, data)
    print(f"{POLICY}: {len(data['preload'])} modules to preload, {len(data['skops_trusted'])} skops types, "
          f"{len(data['refused_callables'])} callables refused")
    return 0


if __name__ == "__main__":
    sys.exit(main())

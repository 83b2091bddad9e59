"""The dump stage: each environment fits the catalogue and writes its artifacts into the run tree."""

import shutil
import time
from dataclasses import dataclass

from .bases import HOST_ARCH
from .layout import read_json, sha256_file
from .runner import EMULATION_COST, Limits, host_user, run_stoppably
from .store import inside_hash

DUMP_TIMEOUT = 3 * 3600  # arm64 under emulation is ~10x slower than native


@dataclass(frozen=True)
class Dumped:
    """What happened to one producer's dump."""

    env_id: str
    ok: bool
    cached: bool = False
    seconds: float = 0.0
    artifacts: int = 0
    error: str = ""

    def to_json(self):
        """A JSON-ready record."""
        return dict(self.__dict__)


def dump_stamp(matrix, built):
    """Everything a dump depends on: image, inside code, estimators and formats."""
    return {"image": built.identity, "inside": inside_hash("dump"), "formats": list(matrix.formats),
            "include": list(matrix.estimators_include), "exclude": list(matrix.estimators_exclude)}


def count_artifacts(manifest):
    """Artifacts a manifest lists as written."""
    return sum(1 for est in manifest.get("estimators", []) for rec in est.get("formats", {}).values()
               if rec.get("status") == "ok")


def damaged(tree, env_id):
    """Files of a finished dump that are missing or whose sha256 is not the manifest's, sorted."""
    manifest = read_json(tree.manifest(env_id)) or {}
    folder, bad = tree.artifacts(env_id), []
    for est in manifest.get("estimators", []):
        records = [est.get("outputs") or {}] + list(est.get("formats", {}).values())
        for rec in records:
            if rec.get("file") and rec.get("sha256") and (rec.get("status", "ok") == "ok"):
                path = folder / rec["file"]
                if not path.is_file() or sha256_file(path) != rec["sha256"]:
                    bad.append(f"{env_id}/{rec['file']}")
    return sorted(set(bad))


def dump_env(runner, matrix, env, built, tree):
    """Run (or reuse) one environment's dump; failures become a Dumped with the log's tail."""
    if not built.ok:
        return Dumped(env.id, False, error=f"environment failed to build: {built.error}")
    stamp = dump_stamp(matrix, built)
    if tree.dump_is_current(env.id, stamp) and not damaged(tree, env.id):  # a damaged dump is made again
        return Dumped(env.id, True, cached=True, artifacts=count_artifacts(read_json(tree.manifest(env.id))))
    out = tree.artifacts(env.id)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    start = time.monotonic()
    args = ["--out", "{out}", "--producer", env.id, "--estimators", ",".join(matrix.estimators_include),
            "--formats", ",".join(matrix.formats)]
    if matrix.estimators_exclude:
        args += ["--exclude", ",".join(matrix.estimators_exclude)]
    code, stdout, stderr = runner.run(built, "dump", args, {"out": (out, False)}, timeout=DUMP_TIMEOUT,
                                      limits=Limits(memory="8g", pids=512), user=host_user(), job=out)
    log = tree.dump_log(env.id)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(stdout + stderr, encoding="utf-8")
    seconds = time.monotonic() - start
    manifest = read_json(tree.manifest(env.id))
    if code != 0 or manifest is None:
        last = (stderr.strip().splitlines() or ["no output"])[-1]
        return Dumped(env.id, False, seconds=seconds, error=f"dump exited {code}: {last} (log: {log})")
    tree.mark_dumped(env.id, stamp)
    return Dumped(env.id, True, seconds=seconds, artifacts=count_artifacts(manifest))


def dump_all(runner, matrix, built_by_id, tree, say=print, jobs=2):
    """Dump every environment, a few at a time; one failure never stops the others."""
    done = []

    def one(env):
        result = dump_env(runner, matrix, env, built_by_id[env.id], tree)
        done.append(env.id)
        head = f"[{len(done)}/{len(matrix.envs)}] dump {env.id}:"
        if not result.ok:
            say(f"{head} FAILED: {result.error}")
        elif result.cached:
            say(f"{head} up to date ({result.artifacts} artifacts)")
        else:
            say(f"{head} {result.artifacts} artifacts in {result.seconds:.0f}s")
        return result

    return run_stoppably(one, matrix.envs, jobs, lambda: [runner.stop(job=tree.artifacts(e.id)) for e in matrix.envs],
                         cost=lambda env: EMULATION_COST if env.arch != HOST_ARCH else 1)

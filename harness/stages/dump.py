"""The dump stage: each environment fits the catalogue and writes its artifacts into the run tree."""

import functools
import os
import shutil
import time
from dataclasses import dataclass

from ..core.platforms import HOST_ARCH
from .hashcache import HashCache
from ..envs.runner import EMULATION_COST, Limits, host_user, run_stoppably
from .tree import inside_hash
from ..core.untrusted import MANIFEST_MAX, UntrustedInput, confined, load_manifest, read_json_bounded

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
            "include": list(matrix.estimators_include), "exclude": list(matrix.estimators_exclude),
            "catalogue": matrix.catalogue}


def _manifest(tree, env_id):
    """(checked manifest or None, why it was refused or "") of a dump."""
    try:
        return load_manifest(tree.manifest(env_id))[0], ""
    except FileNotFoundError:
        return None, ""
    except UntrustedInput as exc:
        return None, str(exc)


def count_artifacts(manifest):
    """Artifacts a manifest lists as written."""
    return sum(1 for est in manifest.get("estimators", []) for rec in est.get("formats", {}).values()
               if rec.get("status") == "ok")


def _file_records(manifest):
    """Every {file, sha256} record of a parsed manifest, of whatever shape (checked one by one)."""
    for est in manifest.get("estimators", []) if isinstance(manifest.get("estimators"), list) else ():
        if not isinstance(est, dict):
            continue
        formats = est.get("formats") if isinstance(est.get("formats"), dict) else {}
        for rec in [est.get("outputs")] + list(formats.values()):
            if isinstance(rec, dict) and isinstance(rec.get("file"), str) and isinstance(rec.get("sha256"), str) \
                    and rec.get("status", "ok") == "ok":
                yield rec


def damaged(tree, env_id):
    """Files of a finished dump that are missing or whose sha256 is not the manifest's, sorted.

    Only files inside the producer's folder are looked at: a manifest naming ../ or an absolute path
    must not make the host hash a file of its choice (check_manifest refuses that entry anyway).
    """
    folder, bad = tree.artifacts(env_id), []
    try:
        info = os.lstat(tree.manifest(env_id))
        listed = _listed(str(tree.manifest(env_id)), info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino)
    except (FileNotFoundError, UntrustedInput):
        return []  # no usable manifest: the producer counts as not dumped (merge says why)
    hashes = HashCache(folder, tree.hashes(env_id))
    for file, sha256 in listed:
        if hashes.remembered(file) == sha256:  # unchanged since it was confined and hashed
            continue
        try:
            path = confined(folder, file)
        except UntrustedInput:
            continue
        if not path.is_file() or hashes.sha256(path) != sha256:
            bad.append(f"{env_id}/{file}")
    hashes.save()
    return sorted(set(bad))


@functools.lru_cache(maxsize=64)
def _listed(path, *stat):
    """The (file, sha256) pairs of every entry of a manifest, refused ones too (a truncated artifact
    is damage whatever else is wrong with its entry), parsed once per version of the file."""
    manifest = read_json_bounded(path, MANIFEST_MAX, nofollow=True)
    return tuple((rec["file"], rec["sha256"]) for rec in _file_records(manifest if isinstance(manifest, dict) else {}))


def dump_env(runner, matrix, env, built, tree):
    """Run (or reuse) one environment's dump; failures become a Dumped with the log's tail."""
    if not built.ok:
        return Dumped(env.id, False, error=f"environment failed to build: {built.error}")
    stamp = dump_stamp(matrix, built)
    if tree.dump_is_current(env.id, stamp) and not damaged(tree, env.id):  # a damaged dump is made again
        manifest = _manifest(tree, env.id)[0]
        if manifest is not None:  # else it is made again, like a damaged one
            return Dumped(env.id, True, cached=True, artifacts=count_artifacts(manifest))
    out = tree.artifacts(env.id)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    start = time.monotonic()
    args = ["--out", "{out}", "--producer", env.id, "--estimators", ",".join(matrix.estimators_include),
            "--formats", ",".join(matrix.formats)]
    if matrix.estimators_exclude:
        args += ["--exclude", ",".join(matrix.estimators_exclude)]
    if matrix.catalogue == "hand":
        args.append("--hand-only")
    code, stdout, stderr = runner.run(built, "dump", args, {"out": (out, False)}, timeout=DUMP_TIMEOUT,
                                      limits=Limits(memory="8g", pids=512), user=host_user(), job=out)
    log = tree.dump_log(env.id)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(stdout + stderr, encoding="utf-8")
    seconds = time.monotonic() - start
    manifest, refused = _manifest(tree, env.id)
    if code != 0 or manifest is None:
        last = (stderr.strip().splitlines() or ["no output"])[-1]
        why = f"dump exited {code}: {last}" if code != 0 or not refused else f"manifest refused: {refused}"
        return Dumped(env.id, False, seconds=seconds, error=f"{why} (log: {log})")
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

"""One environment's image built from scratch for amd64 and for arm64 (under QEMU here), side by side."""

import dataclasses
import shutil
import time

from harness.envs import bases, engine, images
from harness.core.cache import Cache
from harness.workflow import resolve_stage

TAG = "sklmatrix-bench/{env}:nocache"


def _build(client, matrix, env, lock, cache):
    """Seconds to build env's image with no layer cache (its base image is reused)."""
    base = bases.ensure_base(client, matrix.base, env.python, env.arch, cache, say=lambda *_: None)
    tag = TAG.format(env=env.id)
    context = images._context(env, lock, cache)
    try:
        start = time.perf_counter()
        engine.build(client, context, tag, {"BASE": base, "PYTHON": env.python, "ENV_ID": env.id},
                     cache.build_log(f"bench-{env.id}"), nocache=True)
        return time.perf_counter() - start
    finally:
        shutil.rmtree(context, ignore_errors=True)
        engine.remove_image(client, tag)


def measure(matrix, sklearn="1.6.1", python="3.11"):
    """Build seconds per arch for one scikit-learn and Python, and arm64's factor over amd64."""
    client, cache = engine.connect(), Cache.default()
    pair = [env for env in matrix.envs if env.sklearn == sklearn and env.python == python]
    locks = {lock.env_id: lock for lock in resolve_stage(dataclasses.replace(matrix, envs=tuple(pair)), cache=cache)}
    seconds = {env.arch: _build(client, matrix, env, locks[env.id], cache) for env in pair}
    return {"envs": [env.id for env in pair], "seconds": {k: round(v, 1) for k, v in seconds.items()},
            "arm64_over_amd64": round(seconds["arm64"] / seconds["amd64"], 1)}

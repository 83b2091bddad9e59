"""One environment's image built from scratch for amd64 and for arm64 (under QEMU here), each the
harness's way (harness/envs/recipe.py) and the three-stage Dockerfile way it replaced, in one run."""

import dataclasses
import shutil
import time
from pathlib import Path

from harness.envs import bases, engine, images, numerics, recipe
from harness.core.cache import Cache
from harness.workflow import resolve_stage

TAG = "sklmatrix-bench/{env}:{way}"
STAGES = Path(__file__).with_name("Dockerfile.stages")


def _build(client, matrix, env, lock, cache, way):
    """Seconds to build env's image with no layer cache, one way (its base images are reused)."""
    base = bases.ensure_base(client, matrix.base, env.python, env.arch, cache, say=lambda *_: None)
    native = images.compiler_key(env)
    compiler = bases.ensure_base(client, matrix.base, native[0], native[1], cache, say=lambda *_: None) if native else None
    tag, log = TAG.format(env=env.id, way=way), cache.build_log(f"bench-{env.id}-{way}")
    context = images._context(env, lock, cache)
    cpu = numerics.defaults(env.arch).get("QEMU_CPU", "")
    try:
        start = time.perf_counter()
        if way == "recipe":
            recipe.build(client, base=base, tag=tag, python=env.python, env_id=env.id, qemu_cpu=cpu,
                         work=context, log_path=log, labels={}, compiler=compiler)
        else:
            shutil.copy(STAGES, context / "Dockerfile")
            args = {"BASE": base, "PYTHON": env.python, "ENV_ID": env.id, "QEMU_CPU": cpu}
            engine.build(client, context, tag, {**args, **({"COMPILER": compiler} if compiler else {})}, log,
                         nocache=True)
        return time.perf_counter() - start
    finally:
        shutil.rmtree(context, ignore_errors=True)
        engine.remove_image(client, tag)


def measure(matrix, sklearn="1.6.1", python="3.11"):
    """Build seconds per arch and way for one scikit-learn and Python, and the ratios."""
    client, cache = engine.connect(), Cache.default()
    pair = [env for env in matrix.envs if env.sklearn == sklearn and env.python == python]
    locks = {lock.env_id: lock for lock in resolve_stage(dataclasses.replace(matrix, envs=tuple(pair)), cache=cache)}
    seconds = {(env.arch, way): _build(client, matrix, env, locks[env.id], cache, way)
               for env in pair for way in ("stages", "recipe")}
    arches = sorted({arch for arch, _ in seconds})
    return {"envs": [env.id for env in pair], "seconds": {f"{a} {w}": round(v, 1) for (a, w), v in seconds.items()},
            "recipe_over_stages": {a: round(seconds[a, "recipe"] / seconds[a, "stages"], 3) for a in arches},
            "arm64_over_amd64": round(seconds["arm64", "recipe"] / seconds["amd64", "recipe"], 1)}

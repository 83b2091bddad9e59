"""The stages of a run, in order, each printing its progress: resolve, build (dump, load, report later)."""

from . import engine, images, wheels
from .layout import Cache


def resolve_stage(matrix, jobs=2, refresh=False, cache=None):
    """Locks for every environment, printing one line each."""
    cache = cache or Cache.default()
    total = len(matrix.envs)
    done = []

    def progress(env, lock):
        done.append(env.id)
        head = f"[{len(done)}/{total}] wheels {env.id}:"
        if not lock.ok:
            print(f"{head} DROPPED: {lock.error}", flush=True)
            return
        state = "cached" if lock.cached else f"resolved in {lock.seconds:.0f}s"
        extra = "".join(f"; {fmt} n/a" for fmt, _ in lock.missing)
        print(f"{head} {len(lock.wheels)} wheels, {state}{extra}", flush=True)

    return wheels.resolve_all(matrix.envs, cache, jobs=jobs, refresh=refresh, progress=progress)


def build_stage(matrix, selected=None, jobs=2, refresh=False, cache=None):
    """Resolve then build the images of the selected environments."""
    cache = cache or Cache.default()
    selected = selected or matrix
    client = engine.connect()
    locks = resolve_stage(selected, jobs=jobs, refresh=refresh, cache=cache)
    results = images.build_all(client, selected, locks, cache, say=lambda line: print(line, flush=True))
    built = sum(1 for r in results if r.ok and not r.cached)
    fresh = sum(1 for r in results if r.cached)
    failed = len(results) - built - fresh
    print(f"images: {built} built, {fresh} up to date, {failed} failed", flush=True)
    return results

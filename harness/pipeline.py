"""The stages of a run, in order, each printing its progress: resolve, build (dump, load, report later)."""

from . import engine, images, venvs, wheels
from .layout import Cache

BACKENDS = ("auto", "docker", "venv")


def say(line):
    """Print one progress line now (nox and CI buffer otherwise)."""
    print(line, flush=True)


def choose_backend(name="auto"):
    """'docker' when an engine answers (required for name='docker'), else 'venv' with a plain warning."""
    if name == "docker":
        engine.connect().close()
        return "docker"
    if name == "venv":
        return "venv"
    if engine.available():
        return "docker"
    say("no container engine answers: falling back to virtualenvs from local Pythons (this machine's "
        f"architecture only, weaker sandbox); {venvs.HOW_TO_DOCKER}")
    return "venv"


def resolve_stage(matrix, jobs=2, refresh=False, cache=None):
    """Locks for every environment, printing one line each."""
    cache = cache or Cache.default()
    total = len(matrix.envs)
    done = []

    def progress(env, lock):
        done.append(env.id)
        head = f"[{len(done)}/{total}] wheels {env.id}:"
        if not lock.ok:
            say(f"{head} DROPPED: {lock.error}")
            return
        state = "cached" if lock.cached else f"resolved in {lock.seconds:.0f}s"
        extra = "".join(f"; {fmt} n/a" for fmt, _ in lock.missing)
        say(f"{head} {len(lock.wheels)} wheels, {state}{extra}")

    return wheels.resolve_all(matrix.envs, cache, jobs=jobs, refresh=refresh, progress=progress)


def build_stage(matrix, jobs=2, refresh=False, cache=None, backend="docker"):
    """Resolve then build every environment of the matrix with the chosen backend."""
    cache = cache or Cache.default()
    client = engine.connect() if backend == "docker" else None
    locks = resolve_stage(matrix, jobs=jobs, refresh=refresh, cache=cache)
    if backend == "docker":
        results = images.build_all(client, matrix, locks, cache, say=say)
    else:
        results = venvs.build_all(matrix, locks, cache, say=say)
    built = sum(1 for r in results if r.ok and not r.cached)
    fresh = sum(1 for r in results if r.cached)
    failed = len(results) - built - fresh
    say(f"environments ({backend}): {built} built, {fresh} up to date, {failed} failed or not covered")
    return results

"""One image per environment, tagged by a hash of everything in it, built only when missing."""

import dataclasses
import json
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from . import bases, engine, numerics, recipe
from ..config import debian
from ..core import platforms
from ..core.errors import BuildError, HarnessError
from ..core.files import sha256_text
from ..core.source import IMAGES

DEBIAN_DOCKERFILE = IMAGES / "Dockerfile.debian"  # a stack of the suite's own packages
TAIL_LINES = 20


def consumer_identity(tag, runtime):
    """What results made in an environment depend on: its image (or venv), and its runtime variables."""
    return tag + "".join(f"+{name}={value}" for name, value in sorted(dict(runtime).items()))


@dataclass(frozen=True)
class Built:
    """What happened to one environment's image."""

    env_id: str
    ok: bool
    tag: str = ""
    cached: bool = False
    seconds: float = 0.0
    error: str = ""
    log_tail: tuple = ()
    runtime: tuple = ()  # (name, value) variables every container of the image gets (harness.envs.numerics)

    @property
    def identity(self):
        """What results made in this environment depend on: the image, and its runtime variables."""
        return consumer_identity(self.tag, self.runtime)

    def to_json(self):
        """A JSON-ready record for the results tree."""
        return {"env_id": self.env_id, "ok": self.ok, "tag": self.tag, "cached": self.cached,
                "seconds": round(self.seconds, 1), "error": self.error, "log_tail": list(self.log_tail),
                "runtime": dict(self.runtime)}


def recipe_text(env):
    """How an environment's image is made: a Debian stack's Dockerfile, else harness.envs.recipe."""
    return DEBIAN_DOCKERFILE.read_text() if env.debian else recipe.text()


def base_key(env):
    """(python, arch, Debian packages) of the base image an environment is built on."""
    return env.python, env.arch, debian.PACKAGES if env.debian else ()


def compiler_key(env):
    """The base of the same Python for this machine's CPU that compiles an image's bytecode, or
    None where the image's own base does (a native image, a Debian stack)."""
    if env.debian or env.arch == platforms.HOST_ARCH:
        return None
    return env.python, platforms.HOST_ARCH, ()


def image_tag(env, lock, base_id, compiler_id=""):
    """sklmatrix/<env id>:<hash of base, compiler base, wheels and recipe>."""
    digest = sha256_text(base_id, compiler_id, recipe_text(env), env.id, env.python, env.arch,
                         *(sha for _, sha in lock.wheels))
    return f"sklmatrix/{env.id}:{digest[:16]}"


def _context(env, lock, cache):
    """A build folder: hard links to the environment's wheels, and a Debian stack's Dockerfile."""
    folder = cache.context(env.id)
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "wheels").mkdir(parents=True)
    if env.debian:
        shutil.copy(DEBIAN_DOCKERFILE, folder / "Dockerfile")
    for name, _ in lock.wheels:
        source, target = cache.pool / name, folder / "wheels" / name
        try:
            os.link(source, target)
        except OSError:  # another file system: copy instead
            shutil.copy(source, target)
    return folder


def build_env(client, env, lock, base_tag, cache, listed=None, compiler_tag=None):
    """Build (or reuse) one environment's image; failures become a Built with the log's tail
    (listed: engine.list_images, asked before the engine; compiler_tag: the native base that
    compiles an emulated image's bytecode)."""
    start = time.monotonic()
    if not lock.ok:
        return Built(env.id, False, error=f"wheels could not be resolved: {lock.error}")
    base = engine.find_image(client, base_tag, listed)
    compiler = engine.find_image(client, compiler_tag, listed) if compiler_tag else None
    tag = image_tag(env, lock, base.id, compiler.id if compiler else "")
    if engine.find_image(client, tag, listed) is not None:
        return _checked(client, env, cache, Built(env.id, True, tag, cached=True))
    log_path = cache.build_log(env.id)
    try:
        context = _context(env, lock, cache)
        labels = {f"{engine.LABEL}.env": env.id, f"{engine.LABEL}.arch": env.arch,
                  f"{engine.LABEL}.python": env.python}
        if env.debian:
            engine.build(client, context, tag, {"BASE": base_tag, "PYTHON": env.python, "ENV_ID": env.id},
                         log_path, labels=labels)
        else:  # every step runs as the CPU the containers get (numerics)
            recipe.build(client, base=base_tag, tag=tag, python=env.python, env_id=env.id,
                         qemu_cpu=numerics.defaults(env.arch).get("QEMU_CPU", ""), work=context,
                         log_path=log_path, labels=labels, compiler=compiler_tag)
        bases.check_machine(client, tag, env.python, env.arch)
        if env.debian:  # the suite decides the versions: they must be what matrix.toml states
            problem = _stack_problem(client, tag, env, f"Debian {env.debian}'s stack")
            if problem:
                raise BuildError(problem, hint=f"state the versions {env.debian} ships, or pick the suite that ships them")
    except HarnessError as exc:
        return Built(env.id, False, tag, seconds=time.monotonic() - start, error=exc.line(),
                     log_tail=_tail(log_path))
    finally:
        shutil.rmtree(cache.context(env.id), ignore_errors=True)
    return _checked(client, env, cache, Built(env.id, True, tag, seconds=time.monotonic() - start))


# What an image brought by the user really ships: checked against what matrix.toml states.
PROBE = ("import json, platform, sys, numpy, sklearn; print(json.dumps({'python': '%d.%d' % sys.version_info[:2], "
         "'scikit-learn': sklearn.__version__, 'numpy': numpy.__version__, 'machine': platform.machine()}))")


def use_image(client, env, cache, listed=None):
    """An existing local image as an environment, once it ships the stack matrix.toml states;
    its id is the tag, so results follow the image's content, not its name."""
    start = time.monotonic()
    image = engine.find_image(client, env.image, listed)
    if image is None:
        return Built(env.id, False, error=f"image {env.image} is not on this engine (no registry is reachable: "
                     "build it or `docker load` it here first)")
    # Its own entrypoint (a server, a shell script) would swallow the harness's commands: a
    # one-line image on top resets it, tagged by the user's image id.
    tag = f"sklmatrix/{env.id}:{image.id.split(':')[-1][:16]}"
    if engine.find_image(client, tag, listed) is None:
        folder = cache.context(env.id)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        (folder / "Dockerfile").write_text(f"FROM {image.id}\nENTRYPOINT []\nCMD []\n")
        try:
            engine.build(client, folder, tag, {}, cache.build_log(env.id),
                         labels={f"{engine.LABEL}.env": env.id, f"{engine.LABEL}.arch": env.arch,
                                 f"{engine.LABEL}.python": env.python})
        except HarnessError as exc:
            return Built(env.id, False, error=exc.line(), log_tail=_tail(cache.build_log(env.id)))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    problem = _stack_problem(client, tag, env, f"image {env.image}")
    if problem:
        return Built(env.id, False, error=problem)
    return _checked(client, env, cache, Built(env.id, True, tag, cached=True, seconds=time.monotonic() - start))


def _stack_problem(client, tag, env, what):
    """Why the image's Python, scikit-learn, numpy or machine is not what matrix.toml states, or ''."""
    code, out, err = engine.run(client, tag, ["python", "-c", PROBE], user="10001:10001", network=False)
    try:
        found = json.loads(out.strip().splitlines()[-1]) if code == 0 else None
    except (ValueError, IndexError):
        found = None
    if not isinstance(found, dict):
        return f"{what} has no `python` with numpy and scikit-learn: {(err or out).strip()[-200:]}"
    stated = {"python": env.python, "scikit-learn": env.sklearn, "numpy": env.numpy_pin}
    wrong = [f"{k} {found.get(k)!r}, matrix.toml says {v!r}" for k, v in stated.items() if str(found.get(k)) != v]
    machines = platforms.ACCEPTED_MACHINES.get(env.arch, (platforms.MACHINE[env.arch],))
    if found.get("machine") not in machines:
        wrong.append(f"machine {found.get('machine')!r}, matrix.toml says {platforms.MACHINE[env.arch]!r}")
    return f"{what} is not what matrix.toml states: " + "; ".join(wrong) if wrong else ""


def _checked(client, env, cache, built):
    """built with the runtime variables its numerics need here, or failed when none will do."""
    try:
        return dataclasses.replace(built, runtime=numerics.runtime_env(client, built.tag, env.arch, cache))
    except BuildError as exc:
        return dataclasses.replace(built, ok=False, error=exc.line())


def _tail(path, lines=TAIL_LINES):
    """The last lines of a log file."""
    try:
        return tuple(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ()


def build_all(client, matrix, locks, cache, say=print, jobs=2):
    """Bases first, then every image, a few at a time; one failure never stops the others."""
    by_id = {lock.env_id: lock for lock in locks}
    base_of, base_error = {}, {}
    listed = engine.list_images(client)  # one call for every tag asked below; built ones are asked anew

    def base(key):
        python, arch, packages = key
        try:
            base_of[key] = bases.ensure_base(client, matrix.base, python, arch, cache, say=say, packages=packages,
                                             listed=listed)
        except BuildError as exc:
            base_error[key] = exc.line()
            say(f"base python{key[0]} {key[1]}: FAILED: {exc.line()}")

    keys = {base_key(env) for env in matrix.envs if not env.image}
    keys |= {compiler_key(env) for env in matrix.envs if not env.image and compiler_key(env)}
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        list(pool.map(base, sorted(keys)))
    done = []

    def one(env):
        key = base_key(env)
        if env.image:
            built = use_image(client, env, cache, listed)
        elif key in base_error:
            built = Built(env.id, False, error=f"base image: {base_error[key]}")
        else:
            # Without its native compiler base an emulated image compiles under qemu, as before.
            built = build_env(client, env, by_id[env.id], base_of[key], cache, listed,
                              base_of.get(compiler_key(env)))
        done.append(env.id)
        say(_progress(len(done), len(matrix.envs), built))
        return built

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, matrix.envs))


def _progress(number, total, built):
    """One progress line per image."""
    head = f"[{number}/{total}] {built.env_id}:"
    if not built.ok:
        return f"{head} FAILED: {built.error}"
    if built.cached:
        return f"{head} up to date ({built.tag})"
    return f"{head} built in {built.seconds:.0f}s ({built.tag})"

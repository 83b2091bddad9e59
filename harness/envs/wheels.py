"""Resolve each environment's fully pinned wheel set into the host wheelhouse, binary wheels only."""

import dataclasses
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from . import bases
from ..config import debian, pins as pins_module
from ..core.errors import DiskSpaceError
from ..core.files import read_json, sha256_file, sha256_text, write_json
from ..inside.schema import SCHEMA_VERSION

# Bump to invalidate every lock when the resolution rules below change.
RESOLVER_VERSION = "1"
CORE = ("joblib", "threadpoolctl")
# Optional stacks, richest first; the first tier pip can satisfy wins, and what it lacks is
# recorded as formats that are not applicable in that environment.
TIERS = (
    ("cloudpickle", "skops", "skl2onnx", "onnxruntime"),
    ("cloudpickle", "skops"),
    ("cloudpickle",),
    (),
)
FORMAT_NEEDS = {"cloudpickle": ("cloudpickle",), "skops": ("skops",), "onnx": ("skl2onnx", "onnxruntime")}
# pandas joins each tier (the DataFrame entries need it); where no pandas installs beside the
# stack, the tiers are tried again without it and those entries are n/a inside the environment.
PANDAS = "pandas"
WHEEL_ARCH = {"amd64": "x86_64", "arm64": "aarch64", "i386": "i686", "s390x": "s390x"}
MIN_FREE_BYTES = 2 << 30


@dataclass(frozen=True)
class Lock:
    """The pinned wheel set of one environment, or why it could not be resolved."""

    env_id: str
    inputs: str
    wheels: tuple = ()  # ((filename, sha256), ...)
    missing: tuple = ()  # ((format, reason), ...)
    error: str = ""
    seconds: float = 0.0
    cached: bool = field(default=False, compare=False)

    @property
    def ok(self):
        """Whether the environment can be installed."""
        return not self.error

    def pinned(self):
        """{distribution name: version} from the wheel filenames."""
        out = {}
        for filename, _ in self.wheels:
            name, version = filename.split("-")[:2]
            out[name.lower().replace("_", "-")] = version
        return out

    def to_json(self):
        """The lock file's content."""
        return {"schema": SCHEMA_VERSION, "env": self.env_id, "inputs": self.inputs,
                "wheels": [list(w) for w in self.wheels], "missing": dict(self.missing),
                "error": self.error, "seconds": round(self.seconds, 2)}

    @classmethod
    def from_json(cls, data):
        """A Lock from its file's content."""
        return cls(data["env"], data["inputs"], tuple(tuple(w) for w in data["wheels"]),
                   tuple(sorted(data["missing"].items())), data.get("error", ""), data.get("seconds", 0.0), True)


def platform_tags(arch, glibc):
    """Every manylinux tag a system with this glibc accepts, newest first (pip matches exactly)."""
    machine = WHEEL_ARCH[arch]
    minor = int(glibc.split(".")[1])
    tags = [f"manylinux_2_{n}_{machine}" for n in range(minor, 4, -1)]
    tags.append(f"manylinux2014_{machine}")
    if machine in ("x86_64", "i686"):
        tags += [f"manylinux2010_{machine}", f"manylinux1_{machine}"]
    return tags


def with_pandas(tiers):
    """Each tier with pandas, then each without it."""
    return tuple((PANDAS,) + tier for tier in tiers) + tuple(tiers)


def requirements(env, tier):
    """The requirement strings for one environment and optional tier: the table's pins, or those an
    environment brought by the user gives (its requirements file, its wheel, a pre-release)."""
    if env.debian:  # the suite's stack, stated so that pip picks additions that fit it
        return [f"scikit-learn=={env.sklearn}", f"numpy=={env.numpy_pin}", *tier]
    pins = list(env.requirements) or [f"scikit-learn=={env.sklearn}", f"numpy=={env.numpy_pin}",
                                      f"scipy=={env.scipy_pin}"]
    # A stack the user brought keeps its own pandas, if it names one; the table's gets its time's.
    wanted = PANDAS if env.requirements or env.pre else pins_module.pandas_requirement(env.sklearn)
    return [*pins, *CORE, *(wanted if name == PANDAS else name for name in tier)]


def pip_command(env, reqs, dest):
    """The pip download command for an environment's Python and platform."""
    cp = "cp" + env.python.replace(".", "")
    cmd = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--no-input",
           "--only-binary=:all:", "--python-version", env.python, "--implementation", "cp",
           "--abi", cp, "--dest", str(dest), *(["--pre"] if env.pre else [])]
    arch = debian.RESOLVE_ARCH if env.debian else env.arch
    for tag in platform_tags(arch, bases.glibc_for(env.python)):
        cmd += ["--platform", tag]
    return cmd + reqs


def inputs_hash(env):
    """What a lock depends on: pins, tiers, platform and the resolver rules."""
    brought = [sha256_file(r) if r.endswith(".whl") else r for r in env.requirements]
    stack = [env.debian, repr(debian.TIERS), repr(debian.PROVIDED)] if env.debian else []
    return sha256_text(RESOLVER_VERSION, env.id, env.numpy_pin, env.scipy_pin, *brought, *stack,
                       bases.glibc_for(env.python), repr(TIERS), repr(CORE), PANDAS,
                       pins_module.pandas_requirement(env.sklearn))[:16]


def resolve(env, cache, refresh=False):
    """The environment's Lock: from the cache when its inputs are unchanged, else from pip."""
    inputs = inputs_hash(env)
    saved = read_json(cache.lock(env.id))
    if saved and not refresh and saved.get("inputs") == inputs and saved.get("schema") == SCHEMA_VERSION:
        lock = Lock.from_json(saved)
        if lock.ok and all((cache.pool / name).exists() for name, _ in lock.wheels):
            return lock
    lock = _download(env, cache, inputs)
    write_json(cache.lock(env.id), lock.to_json())
    return lock


def _download(env, cache, inputs):
    """Run pip for each tier until one resolves; move its wheels into the pool."""
    check_disk(cache.root)
    start = time.monotonic()
    log_path = cache.resolve_log(env.id)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    cache.pool.mkdir(parents=True, exist_ok=True)
    failures = {}
    tiers = debian.TIERS if env.debian else with_pandas(TIERS)
    with open(log_path, "w", encoding="utf-8") as log:
        for tier in tiers:
            with tempfile.TemporaryDirectory(dir=cache.root, prefix=".dl-") as tmp:
                cmd = pip_command(env, requirements(env, tier), tmp)
                log.write("$ " + " ".join(cmd) + "\n")
                log.flush()
                proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, text=True)
                if proc.returncode != 0:
                    failures[tier] = _last_error(log_path)
                    continue
                wheels = tuple(_into_pool(Path(tmp), cache.pool))
            if env.debian:
                wheels = tuple(w for w in wheels if debian.kept(w[0]))
                missing = tuple(sorted(debian.MISSING + _missing_formats(tier, failures, ("skops",))))
                return Lock(env.id, inputs, wheels, missing, "", time.monotonic() - start)
            missing = _missing_formats(tier, failures)
            lock = Lock(env.id, inputs, wheels, missing, "", time.monotonic() - start)
            return _as_stated(env, lock)
    reason = failures.get((), "pip could not resolve the core set")
    return Lock(env.id, inputs, error=reason, seconds=time.monotonic() - start)


def _as_stated(env, lock):
    """The lock, or a failed one when what pip resolved is not the stack matrix.toml states."""
    if not env.requirements:
        return lock
    got = lock.pinned()
    wrong = [f"{name} {got.get(name)!r}, matrix.toml says {want!r}"
             for name, want in (("scikit-learn", env.sklearn), ("numpy", env.numpy_pin)) if got.get(name) != want]
    if wrong:
        return dataclasses.replace(lock, wheels=(), error="resolved " + "; ".join(wrong))
    return lock


def _into_pool(folder, pool):
    """Move downloaded wheels into the pool; yield (filename, sha256) sorted by name."""
    for path in sorted(folder.glob("*.whl")):
        target = pool / path.name
        digest = sha256_file(path)
        if not target.exists():
            shutil.move(str(path), target)
        yield path.name, digest


def _missing_formats(tier, failures, formats=tuple(FORMAT_NEEDS)):
    """Formats (of those given) whose packages the chosen tier lacks, each with pip's reason for the
    smallest failed tier that had them (not a richer tier's reason, which may be another package's)."""
    out = []
    for fmt, needs in FORMAT_NEEDS.items():
        if fmt not in formats or set(needs) <= set(tier):
            continue
        had = [t for t in failures if set(needs) <= set(t)]
        reason = failures[min(had, key=len)] if had else ""
        out.append((fmt, f"no installable wheels for {'+'.join(needs)}: {reason}".strip()))
    return tuple(sorted(out))


def _last_error(log_path):
    """The most telling line of pip's failure in a log."""
    lines = [l.strip() for l in Path(log_path).read_text(encoding="utf-8", errors="replace").splitlines()]
    # pip also says "ERROR: Ignored the following yanked versions: ..." before the reason itself.
    errors = [l for l in lines if l.startswith("ERROR:") and "pip's dependency resolver" not in l
              and not l.startswith("ERROR: Ignored the following")]
    return errors[0][len("ERROR:"):].strip() if errors else (lines[-1] if lines else "pip failed")


def check_disk(folder, need=MIN_FREE_BYTES):
    """Refuse to start a download with less than need bytes free."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if free < need:
        raise DiskSpaceError(f"only {free >> 20} MiB free in {folder}; the wheelhouse needs about "
                             f"{need >> 20} MiB", hint="free some space or set SKLMATRIX_CACHE to a larger disk")


def resolve_all(envs, cache, jobs=2, refresh=False, progress=None):
    """Locks for many environments, a few pip processes at a time; never raises for one env."""
    def one(env):
        # An image brought by the user carries its own stack: nothing to download.
        lock = Lock(env.id, f"image {env.image}") if env.image else resolve(env, cache, refresh)
        if progress:
            progress(env, lock)
        return lock

    check_disk(cache.root)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, envs))

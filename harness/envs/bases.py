"""Base images: which Debian suite carries which Python, and building them offline."""

import os
import shutil
import subprocess
import threading
from pathlib import Path

from . import engine, numerics
from ..core.platforms import ACCEPTED_MACHINES, HOST_ARCH, MACHINE
from ..core.errors import BuildError
from ..core.files import sha256_text
from ..config.debian import SUITES

# python:X-slim images from a registry are Debian bookworm or newer.
REGISTRY_GLIBC = "2.36"


def glibc_for(python):
    """The glibc the environment's base image has, which bounds the manylinux tags it accepts."""
    return SUITES[python][1] if python in SUITES else REGISTRY_GLIBC


DEBOOTSTRAP_RECIPE = "1"  # bump to rebuild every debootstrapped base


def mirror():
    """The Debian mirror debootstrap reads ($SKLMATRIX_DEBIAN_MIRROR)."""
    return os.environ.get("SKLMATRIX_DEBIAN_MIRROR", "http://deb.debian.org/debian")


def debootstrap_command(python, arch, target, packages=()):
    """The debootstrap call for a minimal Debian holding pythonX.Y and its venv module, and the
    suite's own packages of a Debian stack when given (python3-sklearn and its dependencies)."""
    suite, _, extra = SUITES[python]
    packages = ",".join((f"python{python}", f"python{python}-venv") + extra + tuple(packages))
    return ["debootstrap", "--variant=minbase", f"--arch={arch}", f"--include={packages}",
            suite, str(target), mirror()]


def debootstrap_tag(python, arch, packages=()):
    """The local tag of a debootstrapped base, changing with its recipe."""
    suite = SUITES[python][0]
    recipe = sha256_text(DEBOOTSTRAP_RECIPE, " ".join(debootstrap_command(python, arch, "ROOT", packages)))[:12]
    return f"sklmatrix/base:{suite}-py{python}-{arch}{'-debstack' if packages else ''}-{recipe}"


def ensure_base(client, template, python, arch, cache, say=print, packages=(), listed=None):
    """A local base image tag for (python, arch): the configured image if present, else debootstrap
    (always for a Debian stack: its packages come from the suite)."""
    wanted = template.format(python=python)
    if arch == HOST_ARCH and not packages:
        if engine.find_image(client, wanted, listed) is not None:
            return wanted
        try:
            client.images.pull(wanted)
            say(f"base {wanted}: pulled")
            return wanted
        except Exception:  # no registry here: fall through to an offline build
            pass
    if python not in SUITES:
        offline = ", ".join(sorted(SUITES))
        raise BuildError(f"no base image for Python {python} on {arch}: {wanted} is not available locally or "
                         f"from a registry, and offline bases exist only for Python {offline}")
    tag = debootstrap_tag(python, arch, packages)
    with _LOCKS.setdefault(tag, threading.Lock()):  # the native and emulated lanes may both need it
        if engine.find_image(client, tag, listed) is not None:
            return tag
        return _debootstrap(client, python, arch, tag, cache, say, packages)


_LOCKS: dict[str, threading.Lock] = {}  # base tag -> the lock its debootstrap holds


def _debootstrap(client, python, arch, tag, cache, say, packages=()):
    """Debootstrap a rootfs, import it as tag, and check it runs with the right machine."""
    if shutil.which("debootstrap") is None or os.geteuid() != 0:
        raise BuildError(f"building base {tag} needs root and debootstrap",
                         hint="run `sudo images/setup-engine.sh` and rerun as root, or provide the base image")
    name = tag.split(":", 1)[1]
    root = cache.rootfs(name)
    log_path = cache.build_log(f"base-{name}")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(root, ignore_errors=True)
    root.parent.mkdir(parents=True, exist_ok=True)
    say(f"base {tag}: debootstrap {SUITES[python][0]} {arch} (a few minutes; log {log_path})")
    # The second stage runs the suite's own binaries under qemu as the CPU the containers get: under
    # qemu's default CPU, which authenticates pointers the slow way, trixie's arm64 debootstrap
    # took 429 s against 197 s as a Neoverse N1.
    environment = {**os.environ, **numerics.defaults(arch)}
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.run(debootstrap_command(python, arch, root, packages), stdout=log, stderr=subprocess.STDOUT,
                              env=environment)
    if proc.returncode != 0:
        tail = Path(log_path).read_text(errors="replace").strip().splitlines()[-1:]
        raise BuildError(f"debootstrap for {tag} failed: {' '.join(tail)}", hint=f"see {log_path}")
    try:
        # Docker 20.10 ignores `import --platform`: the label is how the harness knows the arch.
        engine.import_rootfs(client, root, tag, changes=[
            f"LABEL {engine.LABEL}.arch={arch}", "ENV LANG=C.UTF-8",
        ])
    finally:
        shutil.rmtree(root, ignore_errors=True)
    check_machine(client, tag, python, arch)
    return tag


def check_machine(client, image, python, arch):
    """Fail unless a container of image reports the expected platform.machine()."""
    code, out, err = engine.run(client, image, [f"python{python}", "-c",
                                                "import platform; print(platform.machine())"])
    got = out.strip()
    if code != 0 or got not in ACCEPTED_MACHINES.get(arch, (MACHINE[arch],)):
        hint = f"{arch} needs qemu binfmt: run `sudo images/setup-engine.sh`" if arch != HOST_ARCH else None
        raise BuildError(f"{image} reports machine {got or err.strip()[-200:]!r}, expected {MACHINE[arch]}",
                         hint=hint)

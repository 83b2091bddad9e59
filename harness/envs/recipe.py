"""An environment's image without a Dockerfile: its venv made in containers of its base, with the
wheels mounted rather than copied in, and committed as the image's one layer of its own.

A Dockerfile build copied the wheels into a layer, then the venv twice between stages (to leave
the wheels and the compiler out of the image): 20-25 s of a 45 s native build went to those
copies. Natively one container installs and compiles; an emulated image installs under qemu into
a host folder, a native container of the same Python compiles it, and a container of the
emulated base copies it into its layer."""

import shutil

from . import engine
from ..core.errors import BuildError
from ..core.source import IMAGES

SCRIPT = IMAGES / "install-env.sh"
SCRIPT_AT = "/tmp/install-env.sh"  # under /tmp: a sandbox's tmpfs hides the mount points left in the layer
WHEELS_AT, BUILT_AT = "/tmp/wheels", "/tmp/built-env"
# What a Dockerfile's ENV gave the image; a commit also resets the build step's command.
CHANGES = ("ENV PATH=/opt/env/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "ENV PYTHONDONTWRITEBYTECODE=1", "ENV PYTHONUNBUFFERED=1", 'CMD ["/bin/sh"]')


def text():
    """What the recipe is, for image tags: the script and the image's configuration."""
    return SCRIPT.read_text() + "\n".join(CHANGES)


def build(client, *, base, tag, python, env_id, qemu_cpu, work, log_path, labels, compiler=None):
    """Build tag from base and the wheels in work/wheels (work: the build folder on the host);
    compiler, the native base of the same Python, compiles an emulated image's bytecode."""
    script, wheels = [(str(SCRIPT), SCRIPT_AT, True)], work / "wheels"
    given = (python, env_id, qemu_cpu or "")
    changes = CHANGES + tuple(f"LABEL {key}={value}" for key, value in sorted(labels.items()))

    def step(image, steps, mounts, what):
        log.write(f"--- {what} ({' '.join(steps)}) in {image}\n")
        log.flush()
        return engine.run_step(client, image, ["sh", SCRIPT_AT, *given, *steps], log, f"{what} of {tag}",
                               f"sklmatrix-build-{env_id}-{steps[-1]}", mounts=script + mounts)

    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", encoding="utf-8") as log:
        try:
            if compiler is None:
                engine.commit(step(base, ["install", "compile"], [(str(wheels), WHEELS_AT, True)],
                                   "the install"), tag, changes)
                return
            built = work / "env"
            shutil.rmtree(built, ignore_errors=True)
            built.mkdir(parents=True)
            for image, steps, mounts, what in (
                    (base, ["install"], [(str(wheels), WHEELS_AT, True), (str(built), "/opt/env", False)],
                     "the install"),
                    (compiler, ["compile"], [(str(built), "/opt/env", False)], "the native compile")):
                step(image, steps, mounts, what).remove()
            engine.commit(step(base, ["copy"], [(str(built), BUILT_AT, True)], "the copy"), tag, changes)
        except BuildError as exc:
            raise BuildError(f"building {tag} failed: {exc}", hint=f"see {log_path}") from None

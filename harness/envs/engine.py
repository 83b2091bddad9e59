"""The one module that talks to the container engine, through the docker Python SDK."""

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import BuildError, EngineUnavailable

LABEL = "org.sklmatrix"


def connect(timeout=600):
    """A docker client whose engine answers, or EngineUnavailable."""
    try:
        import docker
    except ImportError:  # pragma: no cover - declared dependency
        raise EngineUnavailable("the docker Python SDK is not installed", hint="pip install docker") from None
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except Exception as exc:  # the SDK raises several types for "no engine"
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        raise EngineUnavailable(f"no container engine answers at {where} ({type(exc).__name__})") from None
    return client


def available():
    """Whether an engine answers (for choosing a backend and skipping tests)."""
    try:
        connect(timeout=5).close()
        return True
    except EngineUnavailable:
        return False


@dataclass(frozen=True)
class Listed:
    """An image found in a listing: what callers read of one (its id)."""

    id: str


def list_images(client):
    """{tag: image id} of every local image, in one call: a warm build asks for two tags an environment."""
    return {tag: row["Id"] for row in client.api.images() for tag in row.get("RepoTags") or ()}


def find_image(client, tag, listed=None):
    """The local image with this tag, or None; never pulls. listed (list_images) answers first;
    a tag it lacks (built since, or named another way) is asked of the engine."""
    import docker.errors

    if listed and tag in listed:
        return Listed(listed[tag])
    try:
        return client.images.get(tag)
    except docker.errors.ImageNotFound:
        return None


def build(client, context, tag, buildargs, log_path, labels=None, nocache=False):
    """Build context/Dockerfile into tag, streaming the log to log_path; BuildError with its tail."""
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    error = None
    with open(log_path, "w", encoding="utf-8") as log:
        try:
            for chunk in client.api.build(path=str(context), tag=tag, buildargs=buildargs, labels=labels,
                                          rm=True, forcerm=True, decode=True, pull=False, nocache=nocache):
                if "stream" in chunk:
                    log.write(chunk["stream"])
                elif "error" in chunk:
                    error = chunk["error"].strip()
                    log.write(f"ERROR: {error}\n")
                elif "status" in chunk:
                    log.write(chunk["status"] + "\n")
                log.flush()
        except Exception as exc:  # API errors (bad Dockerfile, engine gone) end up in the log too
            error = f"{type(exc).__name__}: {exc}"
            log.write(f"ERROR: {error}\n")
    if error:
        raise BuildError(f"building {tag} failed: {error}", hint=f"see {log_path}")
    return client.images.get(tag)


def run_step(client, image, command, log, what, name, *, mounts=()):
    """Run one build step's container to its end with no network, its output appended to the open
    log; the stopped container is returned for commit(), or removed and BuildError (naming what)
    on failure. It is named, not labelled: a commit passes a container's labels on to the image
    and to every container of it."""
    import docker.types

    _quietly(client.api.remove_container, container=name, force=True)  # left by an interrupted build
    container = client.containers.create(
        image, command, name=name, network_mode="none",
        mounts=[docker.types.Mount(target, source, type="bind", read_only=ro) for source, target, ro in mounts])
    try:
        container.start()
        for chunk in container.logs(stream=True, follow=True):
            log.write(chunk.decode("utf-8", "replace"))
            log.flush()
        code = container.wait().get("StatusCode", -1)
    except BaseException:
        _quietly(container.remove, force=True)
        raise
    if code != 0:
        _quietly(container.remove, force=True)
        log.write(f"ERROR: {what} exited with {code}\n")
        raise BuildError(f"{what} exited with {code}")
    return container


def commit(container, tag, changes):
    """The container's file system as image tag, configured by Dockerfile-style changes; the
    container is removed."""
    repository, _, version = tag.partition(":")
    try:
        container.commit(repository=repository, tag=version or "latest", changes=list(changes))
    finally:
        _quietly(container.remove, force=True)


def import_rootfs(client, rootfs, tag, changes=()):
    """docker import a root file system folder as tag (the engine does not record its arch)."""
    repository, _, version = tag.partition(":")
    # tar keeps ownership, device nodes and xattrs of the rootfs, which Python's tarfile may not.
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
    try:
        client.api.import_image_from_stream(tar.stdout, repository=repository, tag=version or "latest",
                                            changes=list(changes))
    finally:
        tar.stdout.close()
        code = tar.wait()
    if code != 0:
        raise BuildError(f"tar of {rootfs} failed with exit code {code}")
    return client.images.get(tag)


SANDBOX_TMP = "256m"  # the only writable place in a sandboxed container


LOG_LIMIT = {"max-size": "64m", "max-file": "2"}  # the engine's copy of a container's output


def _hardening():
    """What a container loading untrusted artifacts gets besides no network: a read-only root
    file system (a small /tmp aside), no capabilities, no privilege escalation, no core files."""
    import docker.types

    return {"read_only": True, "tmpfs": {"/tmp": f"size={SANDBOX_TMP}"}, "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            # No core files: qemu-user hangs writing one for an emulated crash.
            "ulimits": [docker.types.Ulimit(name="core", soft=0, hard=0)]}


class Streamed:
    """A running container whose stdout is read as it comes, through an attach made before it
    started; removed by finish()."""

    def __init__(self, container, stream):
        self.container, self.stream = container, stream

    def chunks(self):
        """Its stdout, in pieces, until it exits or is killed."""
        try:
            yield from self.stream
        except Exception:  # the container removed under us (Ctrl-C, a rerun): the stream ends
            return

    def kill(self):
        """Stop it at once (SIGKILL from outside reaches even its PID 1)."""
        _quietly(self.container.kill)

    def finish(self, tail=200):
        """(exit code, the last lines of its stderr); the container is removed."""
        try:
            code = self.container.wait(timeout=60).get("StatusCode", -1)
            err = self.container.logs(stdout=False, stderr=True, tail=tail).decode("utf-8", "replace")
        except Exception:  # removed from outside, or never exited
            code, err = -9, "the container was removed while it ran"
        finally:
            _quietly(self.container.remove, force=True)
        return code, err[-(1 << 16):]


def start(client, image, command, *, mounts=(), environment=None, user=None, mem_limit=None,
          pids_limit=None, labels=None, working_dir=None):
    """Start a sandboxed container with no network and capped logs; returns a Streamed."""
    import docker.types

    container = client.containers.create(
        image, command, environment=environment or {}, user=user, network_mode="none",
        mem_limit=mem_limit, pids_limit=pids_limit, labels=labels or {}, working_dir=working_dir,
        mounts=[docker.types.Mount(target, source, type="bind", read_only=ro) for source, target, ro in mounts],
        log_config=docker.types.LogConfig(type="json-file", config=LOG_LIMIT), **_hardening())
    # Attached before it starts: the output comes straight from the container, every byte, with
    # back-pressure. Following the json-file log instead lost or cut a line now and then where the
    # engine rotated the file (every 64 MB: about 1,500 cells), and the cut line read as a crash.
    try:
        stream = container.attach(stdout=True, stderr=False, stream=True, logs=False)
        container.start()
    except BaseException:
        _quietly(container.remove, force=True)
        raise
    return Streamed(container, stream)


def run(client, image, command, *, mounts=(), environment=None, user=None, network=False,
        mem_limit=None, pids_limit=None, timeout=None, sandbox=False, labels=None, working_dir=None):
    """Run a container to completion: (exit code, stdout, stderr); the container is removed.

    sandbox=True adds a read-only root file system (a 256 MB /tmp aside), drops every capability
    and forbids privilege escalation: what a container loading untrusted artifacts gets.
    """
    import docker.types

    container = client.containers.run(
        image, command, detach=True, environment=environment or {}, user=user, working_dir=working_dir,
        network_mode="bridge" if network else "none", mem_limit=mem_limit, pids_limit=pids_limit,
        mounts=[docker.types.Mount(target, source, type="bind", read_only=ro) for source, target, ro in mounts],
        labels=labels or {}, log_config=docker.types.LogConfig(type="json-file", config=LOG_LIMIT),
        **(_hardening() if sandbox else {}),
    )
    try:
        try:
            code = container.wait(timeout=timeout).get("StatusCode", -1)
        except Exception:  # requests' ReadTimeout: the container overran its time
            _quietly(container.kill)
            code = -9
        try:
            # The engine keeps at most LOG_LIMIT of it; read the tail only.
            out = container.logs(stdout=True, stderr=False, tail=2000).decode("utf-8", "replace")
            err = container.logs(stdout=False, stderr=True, tail=2000).decode("utf-8", "replace")
        except Exception:  # removed from outside (a rerun cleaning up, a user): no logs left
            return -9, "", "the container was removed while it ran"
        if code == -9:
            err += f"\ntimed out after {timeout}s"
        return code, out, err
    finally:
        _quietly(container.remove, force=True)


def _quietly(action, **kwargs):
    """Run a container clean-up that may find the container already gone."""
    try:
        action(**kwargs)
    except Exception:  # docker.errors.NotFound and friends
        pass


def kill_labelled(client, labels):
    """Remove containers left running with these labels (by a run that was killed)."""
    wanted = [f"{key}={value}" for key, value in labels.items()]
    for container in client.containers.list(all=True, filters={"label": wanted}):
        _quietly(container.remove, force=True)


def kill_any_labelled(client, key, values):
    """Remove the containers whose label key has any of these values, listed in one call."""
    values = set(values)
    for row in client.api.containers(all=True, filters={"label": key}):
        if (row.get("Labels") or {}).get(key) in values:
            _quietly(client.api.remove_container, container=row["Id"], force=True)


def remove_image(client, tag):
    """Remove an image by tag when it exists (benchmarks' throwaway builds)."""
    _quietly(client.images.remove, image=tag, force=True)

"""Images: tags by content (unit) and a real two-environment build (container)."""

import dataclasses

import pytest

from conftest import DATA, exclusive
from harness.core.errors import BuildError
from harness.envs import bases, engine, images, recipe, wheels
from harness.config import matrix
from harness.workflow import build_stage


def _two():
    return matrix.load(DATA / "two-envs.toml", "two")


def test_image_tag_changes_with_every_input():
    env = _two().envs[0]
    lock = wheels.Lock(env.id, "x", (("a.whl", "1" * 64), ("b.whl", "2" * 64)))
    tag = images.image_tag(env, lock, "sha256:base")
    assert tag.startswith(f"sklmatrix/{env.id}:")
    assert images.image_tag(env, lock, "sha256:base") == tag
    assert images.image_tag(env, lock, "sha256:other") != tag
    other_wheels = dataclasses.replace(lock, wheels=(("a.whl", "3" * 64),))
    assert images.image_tag(env, other_wheels, "sha256:base") != tag


def test_an_emulated_image_is_compiled_by_the_native_base_of_its_python():
    native = _two().envs[0]
    emulated = matrix.load(DATA / "two-envs.toml", "two-arm64").envs[0]
    assert images.compiler_key(native) is None
    assert images.compiler_key(emulated) == ("3.11", "amd64", ())
    lock = wheels.Lock(emulated.id, "x", (("a.whl", "1" * 64),))
    assert images.image_tag(emulated, lock, "sha256:base", "sha256:c1") != images.image_tag(emulated, lock, "sha256:base", "sha256:c2")


def test_debootstrap_recipe_per_python():
    cmd = bases.debootstrap_command("3.9", "arm64", "/r")
    assert "bullseye" in cmd and "--arch=arm64" in cmd
    assert any("python3.9-venv" in part for part in cmd)
    assert bases.debootstrap_tag("3.11", "amd64") != bases.debootstrap_tag("3.11", "arm64")
    assert bases.glibc_for("3.13") == "2.41"


def test_platform_tags_stop_at_the_base_glibc():
    tags = wheels.platform_tags("arm64", "2.31")
    assert tags[0] == "manylinux_2_31_aarch64" and "manylinux_2_32_aarch64" not in tags
    assert "manylinux2014_aarch64" in tags and not any("x86_64" in t for t in tags)


@pytest.mark.container
def test_two_environment_build_is_real_and_then_cached(docker_client, shared_cache, capsys):
    m = _two()
    with exclusive("build-two-envs"):
        _, first = build_stage(m, cache=shared_cache)
        _, second = build_stage(m, cache=shared_cache)
    assert [r.ok for r in first] == [True, True], [r.error for r in first]
    assert all(r.cached for r in second), "a second run with nothing changed must build nothing"
    assert [r.tag for r in first] == [r.tag for r in second]
    for env, built in zip(m.envs, second):
        image = engine.find_image(docker_client, built.tag)
        assert image.labels[f"{engine.LABEL}.env"] == env.id
        code, out, err = engine.run(docker_client, built.tag, [
            "python", "-c", "import platform, sklearn; print(platform.machine(), sklearn.__version__)"])
        assert code == 0, err
        assert out.split() == ["x86_64", env.sklearn]
    assert "0 built, 2 up to date, 0 failed" in capsys.readouterr().out.splitlines()[-1]
    # The wheels were mounted, not copied: the image holds only their empty mount point; its
    # configuration is what the harness's containers rely on, not the build step's.
    image = engine.find_image(docker_client, second[0].tag)
    assert image.attrs["Config"]["Cmd"] == ["/bin/sh"]
    assert "PATH=/opt/env/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" in image.attrs["Config"]["Env"]
    code, out, err = engine.run(docker_client, second[0].tag, ["sh", "-c", "ls -A /tmp/wheels | wc -l"])
    assert (code, out.strip()) == (0, "0"), err


@pytest.mark.container
def test_a_failed_install_fails_the_build_with_its_log_and_leaves_no_container(docker_client, shared_cache, tmp_path):
    env = _two().envs[0]
    base = bases.ensure_base(docker_client, "python:{python}-slim", env.python, env.arch, shared_cache)
    (tmp_path / "wheels").mkdir()
    (tmp_path / "wheels" / "broken-1.0-py3-none-any.whl").write_bytes(b"not a zip file")
    log, tag = tmp_path / "build.log", f"sklmatrix-test/broken-{tmp_path.name.lower()}:x"
    with pytest.raises(BuildError, match="the install of .* exited with"):
        recipe.build(docker_client, base=base, tag=tag, python=env.python, env_id=f"broken-{tmp_path.name}",
                     qemu_cpu="", work=tmp_path, log_path=log, labels={})
    assert "broken-1.0-py3-none-any.whl" in log.read_text()
    assert engine.find_image(docker_client, tag) is None
    assert not docker_client.containers.list(all=True, filters={"name": f"sklmatrix-build-broken-{tmp_path.name}"})


@pytest.mark.container
def test_arm64_base_runs_under_emulation(docker_client, shared_cache):
    # The engine labels an imported arm64 rootfs amd64; the harness tracks the arch itself and
    # checks what the container really runs on.
    with exclusive("base-3.11-arm64"):
        tag = bases.ensure_base(docker_client, "python:{python}-slim", "3.11", "arm64", shared_cache)
    image = engine.find_image(docker_client, tag)
    assert image.labels[f"{engine.LABEL}.arch"] == "arm64"
    code, out, err = engine.run(docker_client, tag, ["python3.11", "-c", "import platform; print(platform.machine())"])
    assert (code, out.strip()) == (0, "aarch64"), err


@pytest.mark.container
def test_an_emulated_image_has_its_bytecode_compiled_natively(docker_client, shared_cache):
    m = matrix.load(DATA / "two-envs.toml", "two-arm64")
    with exclusive("base-3.11-arm64"), exclusive("build-two-envs"), exclusive("build-two-arm64"):
        _, built = build_stage(m, cache=shared_cache, jobs=1)
    assert built[0].ok, built[0].error
    code, out, err = engine.run(docker_client, built[0].tag, ["python", "-c", (
        "import glob, importlib.util, platform, sklearn, os; "
        "pyc = importlib.util.cache_from_source(sklearn.base.__file__); "
        "print(platform.machine(), os.path.exists(pyc), len(glob.glob(os.path.dirname(sklearn.__file__) + '/**/*.pyc', recursive=True)) > 500)")],
        environment={"QEMU_CPU": "neoverse-n1"})
    assert code == 0, err
    assert out.split() == ["aarch64", "True", "True"]

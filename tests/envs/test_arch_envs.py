"""32-bit and big-endian environments: Debian's own stack on any of its architectures, and PyPI's
32-bit wheels, each with an id that says where its stack came from."""

import textwrap

import pytest

from harness.envs import bases, images, recipe, wheels
from harness.config import debian, matrix
from harness.config.env_ids import parse_id
from harness.core.errors import ConfigError

DEBIAN = textwrap.dedent("""
    [[environment]]
    name = "12"
    debian = "{suite}"
    scikit-learn = "1.2.1"
    python = "{python}"
    numpy = "1.24.2"
    arch = {arch}
    matrices = ["arch"]

    [matrix.arch]
    scikit-learn = ["1.0.2"]
    python = ["3.9"]
    arch = ["amd64", "i386"]

    [matrix.other]
    scikit-learn = ["1.0.2"]
    python = ["3.9"]
    """)


def _parse(suite="bookworm", python="3.11", arch='["amd64", "i386", "s390x"]'):
    return matrix.parse(DEBIAN.format(suite=suite, python=python, arch=arch))


def test_a_debian_entry_is_one_environment_per_architecture_with_the_suite_in_its_id():
    parsed = _parse()
    ids = [env.id for env in parsed["arch"].envs]
    assert ids == ["skl1.0.2-py3.9-np1-amd64", "skl1.0.2-py3.9-np1-i386", "skl1.2.1-py3.11-deb12-amd64",
                   "skl1.2.1-py3.11-deb12-i386", "skl1.2.1-py3.11-deb12-s390x"]
    assert [env.id for env in parsed["other"].envs] == ["skl1.0.2-py3.9-np1-amd64"]  # matrices = ["arch"]
    s390x = parsed["arch"].envs[-1]
    assert s390x.debian == "bookworm" and not s390x.requirements
    assert parse_id(s390x.id)["stack"] == "deb12" and parse_id(s390x.id)["arch"] == "s390x"


def test_the_32_bit_wheels_come_from_the_table_with_the_pins_of_their_amd64_twin():
    envs = {env.arch: env for env in _parse()["arch"].envs if env.label == ""}
    assert (envs["i386"].numpy_pin, envs["i386"].scipy_pin) == (envs["amd64"].numpy_pin, envs["amd64"].scipy_pin)
    assert "manylinux2010_i686" in wheels.platform_tags("i386", "2.31")


@pytest.mark.parametrize("suite,python,arch,message", [
    ("bookworm", "3.13", '"s390x"', "bookworm ships Python 3.11, not 3.13"),
    ("bookwrom", "3.11", '"s390x"', "unknown suite 'bookwrom'"),
    ("bookworm", "3.11", '"sparc"', "unknown value 'sparc'"),
])
def test_a_debian_entry_that_cannot_be_is_refused_with_its_line(suite, python, arch, message):
    with pytest.raises(ConfigError, match=message):
        _parse(suite, python, arch)


def test_only_pure_python_wheels_the_suite_lacks_join_a_debian_environment():
    assert debian.kept("skops-0.10.0-py3-none-any.whl")
    assert debian.kept("prettytable-3.6.0-py3-none-any.whl")
    assert not debian.kept("scikit_learn-1.2.1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
    assert not debian.kept("joblib-1.2.0-py3-none-any.whl")  # the suite's own, even though pure
    assert not debian.kept("cloudpickle-2.2.0-py3-none-any.whl")
    assert not debian.kept("wcwidth-0.9.4-cp310-abi3-manylinux2014_aarch64.whl")


def test_a_debian_environment_resolves_its_additions_against_the_suite_s_versions():
    env = _parse()["arch"].envs[-1]
    reqs = wheels.requirements(env, debian.TIERS[0])
    assert reqs == ["scikit-learn==1.2.1", "numpy==1.24.2", "skops"]
    cmd = wheels.pip_command(env, reqs, "/tmp/x")
    assert "manylinux2014_x86_64" in cmd and not any("s390x" in part for part in cmd)


def test_a_debian_environment_is_built_from_its_suite_s_packages():
    env = _parse()["arch"].envs[-1]
    assert images.recipe_text(env) == images.DEBIAN_DOCKERFILE.read_text() and images.base_key(env)[2] == debian.PACKAGES
    command = bases.debootstrap_command(env.python, env.arch, "/root", debian.PACKAGES)
    assert "--arch=s390x" in command and "bookworm" in command
    assert "python3-sklearn" in [c for c in command if c.startswith("--include=")][0]
    plain = bases.debootstrap_tag("3.11", "s390x")
    assert bases.debootstrap_tag("3.11", "s390x", debian.PACKAGES) != plain and "-debstack-" not in plain
    wheel_env = _parse()["arch"].envs[1]
    assert images.recipe_text(wheel_env) == recipe.text() and images.base_key(wheel_env)[2] == ()

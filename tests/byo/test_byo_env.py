"""Environments brought by the user: an existing local image, a producer and a consumer like any other."""

import io
import textwrap

import pytest

from conftest import DATA, exclusive
from harness.results import cells as cells_mod
from harness.config import matrix
from harness.core.errors import ConfigError
from harness.core.cache import Cache
from harness.workflow import Run

BROUGHT = textwrap.dedent("""
    [[environment]]
    name = "serving"
    image = "{image}"
    scikit-learn = "1.6.1"
    python = "3.11"
    numpy = "{numpy}"
    """)


def _matrix_file(tmp_path, image, numpy):
    path = tmp_path / "matrix.toml"
    path.write_text((DATA / "two-envs.toml").read_text() + BROUGHT.format(image=image, numpy=numpy))
    return path


def test_an_image_environment_joins_every_matrix_with_its_stack_in_its_id(tmp_path):
    m = matrix.load(_matrix_file(tmp_path, "team/serving:1", "2.2.6"), "two")
    env = m.envs[-1]
    assert env.id == "skl1.6.1-py3.11-imgserving-amd64" and env.image == "team/serving:1"
    bad = tmp_path / "bad.toml"
    bad.write_text((DATA / "two-envs.toml").read_text() + BROUGHT.format(image="x", numpy="2"))
    with pytest.raises(ConfigError, match="exact version"):
        matrix.load(bad, "two")


@pytest.mark.container
def test_an_existing_image_is_a_producer_and_a_consumer(docker_client, tmp_path):
    import docker

    base = Run(matrix.load(DATA / "two-envs.toml", "two"), backend="docker", reports=tmp_path / "base")
    with exclusive("build-two-envs"):
        base.build()
    wheel_env = base.matrix.envs[1]  # scikit-learn 1.6.1 from wheels
    numpy = base.locks[1].pinned()["numpy"]
    # A team's serving image: the same stack, with an entrypoint that would swallow any command.
    dockerfile = f"FROM {base.builds[wheel_env.id].tag}\nENTRYPOINT [\"/bin/false\"]\n"
    docker_client.images.build(fileobj=io.BytesIO(dockerfile.encode()), tag="team/serving:test", rm=True)
    try:
        wrong = Run(matrix.load(_matrix_file(tmp_path, "team/serving:test", "1.0.0"), "two"), backend="docker",
                    reports=tmp_path / "wrong")
        built = wrong.build(matrix.load(_matrix_file(tmp_path, "team/serving:test", "1.0.0"), "two"))[-1]
        assert not built.ok and "numpy '" in built.error and "matrix.toml says '1.0.0'" in built.error
        run = Run(matrix.load(_matrix_file(tmp_path, "team/serving:test", numpy), "two"), backend="docker",
                  reports=tmp_path / "reports")
        with exclusive("build-two-envs"):
            dumps = run.dump()
        assert all(d.ok for d in dumps), [d.error for d in dumps]
        loaded = run.load()
        assert all(r.ok for r in loaded), [r.error for r in loaded]
        mine = "skl1.6.1-py3.11-imgserving-amd64"
        got = cells_mod.read_all(run.tree.result_files(mine))
        from_wheels = [r for r in got.values() if r["producer"] == wheel_env.id]
        assert from_wheels and all(r["status"] in ("identical", "n/a") for r in from_wheels), \
            {r["estimator"] + "/" + r["format"]: r["status"] for r in from_wheels if r["status"] != "identical"}
        others = cells_mod.read_all(run.tree.result_files(wheel_env.id))
        assert any(r["producer"] == mine and r["status"] == "identical" for r in others.values())
    finally:
        try:
            docker_client.images.remove("team/serving:test", force=True)
        except docker.errors.ImageNotFound:
            pass


@pytest.mark.container
def test_a_requirements_file_a_local_wheel_and_a_pre_release_are_environments_too(docker_client, tmp_path):
    from harness.report import collect as merge
    from harness.results import file as results_file

    base = Run(matrix.load(DATA / "two-envs.toml", "two"), backend="docker", reports=tmp_path / "base")
    with exclusive("build-two-envs"):
        base.build()
    pinned = base.locks[1].pinned()
    wheel = next(name for name, _ in base.locks[1].wheels if name.startswith("scikit_learn-"))
    local = tmp_path / wheel
    local.write_bytes((Cache.default().pool / wheel).read_bytes())  # a maintainer's build: here the released one
    reqs = tmp_path / "requirements.txt"
    reqs.write_text(f"scikit-learn=={pinned['scikit-learn']}  # the team's pins\n"
                    f"numpy=={pinned['numpy']}\nscipy=={pinned['scipy']}\n")
    path = tmp_path / "matrix.toml"
    path.write_text((DATA / "two-envs.toml").read_text() + textwrap.dedent(f"""
        [[environment]]
        name = "team"
        requirements = "{reqs}"
        scikit-learn = "{pinned['scikit-learn']}"
        python = "3.11"
        numpy = "{pinned['numpy']}"

        [[environment]]
        name = "dev"
        wheel = "{local}"
        scikit-learn = "{pinned['scikit-learn']}"
        python = "3.11"
        numpy = "{pinned['numpy']}"

        [[environment]]
        name = "rc"
        scikit-learn = "1.7.0rc1"
        python = "3.11"
        numpy = "{pinned['numpy']}"
        """))
    m = matrix.load(path, "two")
    run = Run(m, backend="docker", reports=tmp_path / "reports")
    with exclusive("build-two-envs"):
        dumps = run.dump()
    assert all(d.ok for d in dumps), [d.error for d in dumps]
    assert all(r.ok for r in run.load())
    ids = {e.label[:3]: e.id for e in m.envs if e.label}
    assert set(ids) == {"req", "whl", "pyp"} and ids["pyp"] == "skl1.7.0rc1-py3.11-pypirc-amd64"
    wheel_env = m.envs[1].id
    for kind in ("req", "whl"):  # the same stack as the wheel table's 1.6.1: identical both ways
        got = cells_mod.read_all(run.tree.result_files(ids[kind])).values()
        same = [r for r in got if r["producer"] == wheel_env]
        assert same and all(r["status"] in ("identical", "n/a") for r in same), (kind, [r["status"] for r in same])
    merged = merge.write_results(m, run.tree, run.locks)
    assert merged["proof"]["ok"], merged["proof"]
    results = results_file.read(run.tree.results_json)
    rc = [c for c in results["cells"] if c["consumer"] == ids["pyp"] and c["producer"] == wheel_env]
    assert rc and not [c for c in rc if c["status"] == "pending"]
    env = next(e for e in results["environments"] if e["id"] == ids["pyp"])
    assert env["pinned"]["scikit-learn"] == "1.7.0rc1"

"""The catalogue and every format, dumped for real in the oldest and newest default environments."""

import dataclasses

import pytest

from conftest import REPO, exclusive
from harness.config import matrix
from harness.inside.schema import FORMATS
from harness.workflow import Run
from test_inside_dump import DATA_HASH

DEFAULT = matrix.load(REPO / "matrix.toml", "default")
OLDEST, NEWEST = DEFAULT.envs[0], DEFAULT.envs[-1]


@pytest.mark.container
@pytest.mark.parametrize("env", [OLDEST, NEWEST], ids=lambda e: e.id)
def test_catalogue_dumps_every_format(env, docker_client, tmp_path):
    one = dataclasses.replace(DEFAULT, envs=(env,))
    with exclusive(f"build-{env.id}"):
        run = Run(one, backend="docker", reports=tmp_path)
        [dumped] = run.dump()
    assert dumped.ok, dumped.error
    manifest = run.tree.load_status("dump", env.id)
    assert manifest["ok"] and manifest["artifacts"] >= 300
    from harness.core.files import read_json

    manifest = read_json(run.tree.manifest(env.id))
    assert manifest["data_hash"] == DATA_HASH
    assert manifest["environment"]["python"].startswith(env.python)
    fitted = [e for e in manifest["estimators"] if e["status"] == "ok"]
    assert len(fitted) >= 50
    assert not [e["name"] for e in manifest["estimators"] if e["status"] == "error"]
    for fmt in FORMATS:
        written = [e for e in fitted if e["formats"][fmt]["status"] == "ok"]
        assert len(written) >= 40 if fmt != "cloudpickle" else len(written) >= 50, fmt
    for est in manifest["estimators"]:
        for fmt, rec in est["formats"].items():
            assert rec["status"] in ("ok", "n/a"), (est["name"], fmt, rec)
            if rec["status"] == "n/a":
                assert rec["reason"]

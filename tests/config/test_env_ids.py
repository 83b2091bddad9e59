"""Environment ids are written and read in one place (harness/config/env_ids.py)."""

from harness.config import matrix as matrix_mod
from harness.config.env_ids import format_id, parse_id

from conftest import DATA


def test_ids_round_trip_for_every_kind_of_stack():
    for stack in ("np1", "np1.26.4", "imgserving", "reqteam", "whldev", "pypi"):
        env_id = format_id("1.6.1", "3.11", stack, "arm64")
        axes = parse_id(env_id)
        assert axes["sklearn"] == "1.6.1" and axes["python"] == "3.11" and axes["stack"] == stack
        assert axes["arch"] == "arm64" and axes["numpy"] == (stack[2:] if stack.startswith("np") else "?")
    assert parse_id("not-an-id") is None and parse_id("") is None


def test_every_matrix_environment_parses_back_to_its_axes():
    for matrix in matrix_mod.load_all(DATA.parent.parent / "matrix.toml").values():
        for env in matrix.envs:
            axes = parse_id(env.id)
            assert (axes["sklearn"], axes["python"], axes["arch"]) == (env.sklearn, env.python, env.arch), env.id

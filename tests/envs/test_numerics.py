"""The numerics self-test: an image whose BLAS miscomputes gets the setting that fixes it, or fails."""

import pytest

from harness.envs import engine, numerics
from harness.core.errors import BuildError
from harness.envs.images import Built
from harness.core.cache import Cache


def fake_engine(monkeypatch, answers):
    """engine.run answering the probe from {frozenset(environment items): stdout}; records calls."""
    calls = []

    def run(client, image, command, environment=None, **kwargs):
        calls.append(dict(environment or {}))
        return 0, answers[frozenset((environment or {}).items())], ""

    monkeypatch.setattr(engine, "run", run)
    return calls


def test_a_correct_image_needs_nothing_and_is_probed_once(monkeypatch, tmp_path):
    calls = fake_engine(monkeypatch, {frozenset(): "3.5e-15 little 8\n"})
    cache = Cache(tmp_path)
    assert numerics.runtime_env(None, "img:1", "amd64", cache) == ()
    assert numerics.runtime_env(None, "img:1", "amd64", cache) == ()
    assert calls == [{}]  # the answer is cached per image


CPU = frozenset(numerics.defaults("arm64").items())  # the emulated arm64 CPU, on this amd64 host


def test_an_emulated_arm64_is_a_named_cpu_and_a_native_one_is_what_it_is(monkeypatch):
    assert numerics.defaults("arm64") == {"QEMU_CPU": "neoverse-n1"}
    assert numerics.defaults("amd64") == {}
    monkeypatch.setattr(numerics, "HOST_ARCH", "arm64")
    assert numerics.defaults("arm64") == {}  # no emulator: the machine's own CPU


def test_nan_products_under_emulation_get_the_generic_kernels(monkeypatch, tmp_path):
    fix = {"OPENBLAS_CORETYPE": "ARMV8"}
    fake_engine(monkeypatch, {CPU: "nan little 8\n", CPU | frozenset(fix.items()): "5.3e-15 little 8\n"})
    runtime = numerics.runtime_env(None, "img:arm", "arm64", Cache(tmp_path))
    assert runtime == (("OPENBLAS_CORETYPE", "ARMV8"), ("QEMU_CPU", "neoverse-n1"))
    built = Built("skl1.9.1-py3.13-np2-arm64", True, "img:arm", runtime=runtime)
    # results made so never mix with others
    assert built.identity == "img:arm+OPENBLAS_CORETYPE=ARMV8+QEMU_CPU=neoverse-n1"
    assert Built("e", True, "img:x").identity == "img:x"


def test_no_setting_that_works_fails_the_environment(monkeypatch, tmp_path):
    fake_engine(monkeypatch, {CPU: "17.7 little 8\n", CPU | frozenset({"OPENBLAS_CORETYPE": "ARMV8"}.items()): "oops\n"})
    with pytest.raises(BuildError) as err:
        numerics.runtime_env(None, "img:bad", "arm64", Cache(tmp_path))
    assert "computes wrong matrix products" in str(err.value) and "native runner" in err.value.line()


def test_the_report_reads_results_under_the_identity_they_were_computed_with(tmp_path):
    import json

    from conftest import DATA
    from harness.results import cells
    from harness.config import matrix
    from harness.report import collect as merge
    from harness.inside.schema import SCHEMA_VERSION
    from harness.core.files import write_json
    from harness.stages.tree import RunTree, inside_hash

    two = matrix.load(DATA / "two-envs.toml", "two")
    producer, consumer = two.envs[0].id, two.envs[1].id
    tree = RunTree(tmp_path)
    write_json(tree.manifest(producer), {"estimators": [{
        "name": "Ridge", "family": "linear", "outputs": {"file": "Ridge.out.json"},
        "formats": {"pickle": {"status": "ok", "sha256": "a" * 64, "file": "Ridge.pkl"}}}]})
    built = Built(consumer, True, "img:arm", runtime=(("OPENBLAS_CORETYPE", "ARMV8"),))
    tree.save_status("build", built.to_json())
    (before,) = cells.cells_for(built.tag, [producer], tree, two, inside_hash())  # before the self-test
    (after,) = cells.cells_for(built.identity, [producer], tree, two, inside_hash())
    tree.results(consumer).parent.mkdir(parents=True)
    tree.results(consumer).write_text("".join(json.dumps({"schema": SCHEMA_VERSION, "key": cell.key, "status": status})
                                              + "\n" for cell, status in ((before, "mismatch"), (after, "identical"))))
    assert [record["status"] for record in merge.collect_cells(two, tree, [producer])] == ["identical"]


def test_an_interpreter_of_another_byte_order_or_word_size_fails_the_environment(monkeypatch, tmp_path):
    fake_engine(monkeypatch, {frozenset(): "3.5e-15 big 8\n"})
    with pytest.raises(BuildError) as err:
        numerics.runtime_env(None, "img:be", "amd64", Cache(tmp_path))
    assert "big-endian 64-bit interpreter, but its id says amd64 (little-endian 64-bit)" in str(err.value)
    fake_engine(monkeypatch, {CPU: "3.5e-15 little 4\n"})
    with pytest.raises(BuildError, match="little-endian 32-bit"):
        numerics.runtime_env(None, "img:32", "arm64", Cache(tmp_path))
    fake_engine(monkeypatch, {frozenset(): "3.5e-15 little 4\n"})
    assert numerics.runtime_env(None, "img:i386", "i386", Cache(tmp_path)) == ()  # what an i386 id says

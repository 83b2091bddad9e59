"""The nox sessions run pip only when the venv's install stamp is not current, and record none
when nox was told not to install."""

import importlib.util
import json
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def noxfile(monkeypatch):
    """noxfile.py imported with a stand-in for nox (its decorators leave the sessions as they are)."""
    fake = types.ModuleType("nox")
    fake.options = types.SimpleNamespace()
    fake.session = lambda *args, **kwargs: args[0] if args and callable(args[0]) else (lambda f: f)
    fake.parametrize = lambda *args, **kwargs: (lambda f: f)
    monkeypatch.setitem(sys.modules, "nox", fake)
    spec = importlib.util.spec_from_file_location("noxfile_under_test", ROOT / "noxfile.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Session:
    """What _install reads of a nox session; install() makes the .dist-info pip would."""

    def __init__(self, venv, no_install=False):
        self.virtualenv = types.SimpleNamespace(location=str(venv))
        self._runner = types.SimpleNamespace(global_config=types.SimpleNamespace(no_install=no_install))
        self.venv, self.installs, self.logs = venv, [], []

    def install(self, *args, **kwargs):
        self.installs.append(args)
        info = self.venv / "lib" / "python3.11" / "site-packages" / "sklearn_persistence_matrix-0.1.0.dist-info"
        info.mkdir(parents=True, exist_ok=True)
        (info / "direct_url.json").write_text(json.dumps({"url": ROOT.as_uri(), "dir_info": {"editable": True}}))

    def log(self, line):
        self.logs.append(line)


def test_pip_runs_once_then_is_skipped_while_the_stamp_is_current(noxfile, tmp_path):
    session = Session(tmp_path / "venv")
    noxfile._install(session)
    noxfile._install(session)
    assert session.installs == [("-e", ".")] and "skipped" in session.logs[0]
    noxfile._install(session, ".[test]")  # another spec: pip again
    assert session.installs[-1] == ("-e", ".[test]")


def test_no_install_records_no_stamp(noxfile, tmp_path):
    quiet = Session(tmp_path / "venv", no_install=True)
    noxfile._install(quiet)
    assert not list((tmp_path / "venv").glob("sklmatrix-install.json"))
    session = Session(tmp_path / "venv")
    noxfile._install(session)
    assert session.installs == [("-e", ".")]  # pip ran: nothing claimed it had

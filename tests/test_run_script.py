"""./run: nox from its own venv, with no Python probed once that venv exists (a probe through a
pyenv shim cost a few tenths of a second on every run)."""

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _script(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + text)
    path.chmod(0o755)


def _run(tmp_path, *args):
    env = {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", "PROBES": str(tmp_path / "probes")}
    return subprocess.run(["bash", str(tmp_path / "run"), *args], env=env, capture_output=True, text=True, timeout=30)


def test_run_probes_no_python_once_nox_is_installed(tmp_path):
    shutil.copy(ROOT / "run", tmp_path / "run")
    for name in ("python3.13", "python3.12", "python3.11", "python3"):
        _script(tmp_path / "bin" / name, 'echo "$0" >> "$PROBES"\nexit 1\n')  # no Python >= 3.11 here
    _script(tmp_path / ".venv-nox" / "bin" / "nox", 'echo "nox $*"\n')
    proc = _run(tmp_path, "matrix", "--", "--file", "mine.toml")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "nox -s matrix -- --file mine.toml\n" and not (tmp_path / "probes").exists()
    os.unlink(tmp_path / ".venv-nox" / "bin" / "nox")  # no nox yet: a Python is looked for, and none fits
    proc = _run(tmp_path, "matrix")
    assert proc.returncode == 2 and "needs Python >= 3.11" in proc.stderr
    assert len((tmp_path / "probes").read_text().splitlines()) == 4

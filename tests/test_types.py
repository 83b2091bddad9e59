"""mypy over the host's modules (configured in pyproject.toml): a wrong type hint fails here."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _mypy(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "mypy", "--no-incremental", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def test_the_host_type_checks():
    proc = _mypy("--config-file", str(REPO / "pyproject.toml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_finds_a_wrong_hint(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def half(n: int) -> str:\n    return n / 2\n")
    proc = _mypy("--ignore-missing-imports", str(bad), cwd=tmp_path)
    assert proc.returncode == 1 and "Incompatible return value" in proc.stdout

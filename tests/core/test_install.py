"""The install stamp lets a nox session skip pip only while the project's editable install is what
pip would make now."""

import json

import pytest

from harness.core.install import STAMP, Stamp


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "project"
    (root / "harness").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[project]\nname = "sklearn-persistence-matrix"\ndependencies = ["numpy"]\n')
    return root


def _venv(tmp_path, project, url=None, editable=True):
    """A venv whose site-packages holds the project's .dist-info, installed from url."""
    venv = tmp_path / "venv"
    info = venv / "lib" / "python3.11" / "site-packages" / "sklearn_persistence_matrix-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "direct_url.json").write_text(json.dumps({"url": url or project.resolve().as_uri(),
                                                      "dir_info": {"editable": editable}}))
    return venv


def test_current_after_record_only(tmp_path, project):
    venv = _venv(tmp_path, project)
    assert not Stamp(venv, project, ".").current()
    Stamp(venv, project, ".").record()
    assert Stamp(venv, project, ".").current()
    assert not Stamp(venv, project, ".[test]").current()


def test_a_changed_pyproject_installs_again(tmp_path, project):
    venv = _venv(tmp_path, project)
    Stamp(venv, project, ".").record()
    (project / "pyproject.toml").write_text('[project]\nname = "sklearn-persistence-matrix"\ndependencies = ["numpy", "x"]\n')
    assert not Stamp(venv, project, ".").current()


def test_a_new_top_package_installs_again(tmp_path, project):
    venv = _venv(tmp_path, project)
    Stamp(venv, project, ".").record()
    (project / "harness_extra").mkdir()
    assert not Stamp(venv, project, ".").current()


def test_the_key_is_taken_before_pip_runs(tmp_path, project):
    venv = _venv(tmp_path, project)
    stamp = Stamp(venv, project, ".")
    (project / "pyproject.toml").write_text('[project]\nname = "sklearn-persistence-matrix"\n')  # edited during pip
    stamp.record()
    assert not Stamp(venv, project, ".").current()


@pytest.mark.parametrize("url, editable", [("file:///elsewhere", True), (None, False)])
def test_an_install_of_another_folder_or_not_editable_is_not_current(tmp_path, project, url, editable):
    venv = _venv(tmp_path, project, url=url, editable=editable)
    Stamp(venv, project, ".").record()
    assert not Stamp(venv, project, ".").current()


def test_an_uninstalled_project_or_a_damaged_stamp_is_not_current(tmp_path, project):
    venv = _venv(tmp_path, project)
    Stamp(venv, project, ".").record()
    (venv / STAMP).write_text("{")
    assert not Stamp(venv, project, ".").current()
    Stamp(venv, project, ".").record()
    for path in venv.rglob("direct_url.json"):
        path.unlink()
    assert not Stamp(venv, project, ".").current()

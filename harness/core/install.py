"""Whether a virtualenv already holds this project's editable install, so that a nox session runs
pip (3-5 s even when nothing changed) only when something pip acts on changed."""

import hashlib
import json
import re
import tomllib
from pathlib import Path

STAMP = "sklmatrix-install.json"  # in the virtualenv: a venv made anew has none


def _key(project, spec):
    """What an editable install of spec depends on: pyproject.toml's bytes (dependencies, extras,
    package data), where the project is (the installed finder points there) and its top packages."""
    project = Path(project).resolve()
    data = (project / "pyproject.toml").read_bytes()
    return {"spec": spec, "project": str(project), "pyproject": hashlib.sha256(data).hexdigest(),
            "packages": sorted(p.name for p in project.glob("harness*") if p.is_dir())}


def _dist_name(project):
    """The distribution's name as its .dist-info folder spells it."""
    name = tomllib.loads((Path(project) / "pyproject.toml").read_text(encoding="utf-8"))["project"]["name"]
    return re.sub(r"[-_.]+", "_", name).lower()


def _installed(venv, project):
    """Whether venv has a .dist-info recording an editable install of this very folder."""
    url = Path(project).resolve().as_uri()
    for path in Path(venv).glob(f"lib/python*/site-packages/{_dist_name(project)}-*.dist-info/direct_url.json"):
        try:
            found = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(found, dict) and found.get("url") == url and (found.get("dir_info") or {}).get("editable"):
            return True
    return False


class Stamp:
    """The install stamp of one virtualenv for one spec, keyed by the project as it is now."""

    def __init__(self, venv, project, spec):
        self.path, self.venv, self.project = Path(venv) / STAMP, venv, project
        self.key = _key(project, spec)  # taken before pip runs: an edit meanwhile shows next time

    def current(self):
        """Whether `pip install -e spec` already ran in the venv with the project as it is now."""
        try:
            stamp = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return stamp == self.key and _installed(self.venv, self.project)

    def record(self):
        """Remember that `pip install -e spec` just succeeded in the venv."""
        self.path.write_text(json.dumps(self.key, sort_keys=True), encoding="utf-8")

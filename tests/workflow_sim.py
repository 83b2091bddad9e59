"""Runs the jobs of .github/workflows/nightly.yml on this machine, each in a workspace of its own.

`run:` steps are executed by bash with the workflow's, the job's and the step's env; artifact
uploads and downloads are copies through one folder; steps that only set up a GitHub runner
(checkout, setup-python, cache, pip install) or talk to GitHub Pages are listed and skipped.
"""

import fnmatch
import glob
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import yaml

# Steps that only prepare a hosted runner or publish to GitHub: this machine has done the former.
SKIPPED_USES = ("actions/checkout", "actions/setup-python", "actions/cache", "actions/configure-pages",
                "actions/upload-pages-artifact", "actions/deploy-pages")
SKIPPED_NAMES = ("Install the harness",)
_EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


class Context(dict):
    """A GitHub expression context: attribute access, missing keys are an error (no silent '')."""

    def __getattr__(self, name):
        if name not in self:
            raise KeyError(f"the simulated workflow has no {name!r} in this context")
        value = self[name]
        return Context(value) if isinstance(value, dict) else value


def evaluate(expr, ctx):
    """A GitHub expression in Python terms: && || ! literals, contexts and the few functions used."""
    python = expr.replace("&&", " and ").replace("||", " or ")
    python = re.sub(r"!(?!=)", " not ", python)
    names = {"always": lambda: True, "cancelled": lambda: False, "fromJSON": json.loads,
             "hashFiles": lambda *a: "hash", "true": True, "false": False}
    names.update({k: Context(v) if isinstance(v, dict) else v for k, v in ctx.items()})
    return eval(python, {"__builtins__": {}}, names)  # our own workflow file, never user input


def substitute(text, ctx):
    """A string with every ${{ }} replaced by its value (a whole-string expression keeps its type)."""
    if not isinstance(text, str):
        return text
    whole = _EXPR.fullmatch(text.strip())
    if whole:
        return evaluate(whole.group(1), ctx)
    return _EXPR.sub(lambda m: _text(evaluate(m.group(1), ctx)), text)


def _text(value):
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


class Workflow:
    """The parsed workflow with an artifact store and a log of what ran and what was skipped."""

    def __init__(self, path, store, extra_env):
        self.doc = yaml.safe_load(Path(path).read_text())
        self.store = Path(store)
        self.extra_env = extra_env
        self.skipped, self.ran = [], []

    def env(self, ctx, *blocks):
        """Merged env blocks (workflow, job, step), expressions substituted in order."""
        out = {}
        for block in blocks:
            for key, value in (block or {}).items():
                ctx["env"] = dict(ctx.get("env", {}), **out)
                out[key] = _text(substitute(value, ctx))
        out.update(self.extra_env)
        return out

    def run_job(self, name, matrix, workspace, inputs, steps_outputs=None):
        """Run one job (one matrix entry) in workspace; returns the GITHUB_OUTPUT pairs it wrote."""
        job = self.doc["jobs"][name]
        workspace.mkdir(parents=True, exist_ok=True)
        ctx = {"matrix": matrix, "inputs": inputs, "github": {"ref": "refs/heads/main"},
               "steps": steps_outputs or {}, "env": {}}
        env = self.env(ctx, self.doc.get("env"), job.get("env"))
        ctx["env"] = env
        output = workspace / "github-output.txt"
        output.write_text("")
        for step in job["steps"]:
            label = step.get("name") or step.get("uses")
            if "if" in step and not substitute(step["if"], ctx):
                self.skipped.append((name, label, "if"))
                continue
            uses = step.get("uses", "")
            if uses.split("@")[0] in SKIPPED_USES or label in SKIPPED_NAMES:
                self.skipped.append((name, label, "runner setup or GitHub"))
                continue
            with_ = {k: substitute(v, ctx) for k, v in (step.get("with") or {}).items()}
            if uses.startswith("actions/upload-artifact"):
                self.upload(workspace, with_)
            elif uses.startswith("actions/download-artifact"):
                self.download(workspace, with_)
            else:
                step_env = dict(os.environ, **self.env(dict(ctx), env, step.get("env")),
                                GITHUB_OUTPUT=str(output))
                proc = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=workspace, env=step_env,
                                      capture_output=True, text=True, timeout=1800)
                assert proc.returncode == 0, f"{name} / {label} failed:\n{proc.stdout}\n{proc.stderr}"
            self.ran.append((name, label))
        return dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)

    def upload(self, workspace, with_):
        """actions/upload-artifact: the files under the paths, relative to their common folder."""
        patterns = [p.strip() for p in with_["path"].splitlines() if p.strip()]
        roots = [os.path.dirname(p.split("*")[0].rstrip("/")) if "*" in p else os.path.dirname(p.rstrip("/"))
                 for p in patterns]
        base = workspace / os.path.commonpath(roots) if len(roots) > 1 else workspace / roots[0]
        target = self.store / with_["name"]
        for pattern in patterns:
            for match in glob.glob(str(workspace / pattern)):
                files = [Path(match)] if os.path.isfile(match) else [p for p in Path(match).rglob("*") if p.is_file()]
                for file in files:
                    dest = target / file.relative_to(base)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(file, dest)

    def download(self, workspace, with_):
        """actions/download-artifact by pattern: merged into path, or one folder per artifact."""
        path = workspace / with_["path"]
        for artifact in sorted(self.store.iterdir()):
            if fnmatch.fnmatchcase(artifact.name, with_["pattern"]):
                dest = path if with_.get("merge-multiple") else path / artifact.name
                shutil.copytree(artifact, dest, dirs_exist_ok=True)

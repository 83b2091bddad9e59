"""`python -m harness check FILE...`: will this model file load, and predict the same, in these
environments? Inspected on the host without running it, then loaded in every selected consumer
inside the matrix's sandbox, each consumer judged against a reference environment's outputs."""

import dataclasses
import fnmatch
import hashlib
import io
import json
import shutil
from pathlib import Path

import numpy as np

from . import inspection
from ..results import judge
from ..results.record import blank as blank_result
from ..stages import load as loads
from ..core.platforms import HOST_ARCH
from ..results.cells import Cell
from ..core.errors import SelectionError
from ..inside.schema import CORE_METHODS, INPUTS, SCHEMA_VERSION, Status, split_call
from ..core.files import sha256_file, sha256_text, write_bytes, write_json
from ..report.texts import state_lines
from ..stages.tree import RunTree, inside_hash
from ..core.untrusted import term_text

# A consumer passes when the file loads and predicts like the reference (warnings allowed
# unless --strict); without a reference, when it loads, predicts and agrees with the others.
PASSING = (Status.IDENTICAL, Status.CLOSE, Status.WARNING)
MAX_SAMPLE = 64 << 20


class SampleError(SelectionError):
    """The --sample file cannot be used."""


def read_sample(path):
    """The user's sample as .npy bytes (no pickle): a .npy file, or a CSV with a header row."""
    path = Path(path)
    data = path.read_bytes()[:MAX_SAMPLE + 1]
    if len(data) > MAX_SAMPLE:
        raise SampleError(f"{path} is over {MAX_SAMPLE >> 20} MB")
    if data.startswith(b"\x93NUMPY"):
        try:
            arr = np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)
        except ValueError as exc:
            raise SampleError(f"{path} is not a plain .npy array (object arrays need pickle): {exc}") from None
    else:
        try:
            rows = [line.split(",") for line in data.decode("utf-8").splitlines() if line.strip()][1:]
        except UnicodeDecodeError:
            raise SampleError(f"{path} is neither a .npy file nor a UTF-8 CSV") from None
        if not rows or len({len(r) for r in rows}) != 1:
            raise SampleError(f"{path}: a CSV needs a header row and rows of equal length")
        try:
            arr = np.array([[float(v) for v in r] for r in rows])
        except ValueError:
            arr = np.array([[v.strip() for v in r] for r in rows])  # text columns: unicode, no pickle
    if arr.dtype.kind not in "biufU" or arr.ndim not in (1, 2) or not arr.size:
        raise SampleError(f"{path}: expected a non-empty 1-D or 2-D array of numbers or text, got "
                          f"{arr.dtype} of shape {list(arr.shape)}")
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def choose_reference(consumers, recorded, named=None):
    """(env or None, why): the environment named by --reference, else the first consumer whose
    scikit-learn is the version the file records (native before emulated)."""
    if named:
        for env in consumers:
            if env.id == named:
                return env, "named by --reference"
        raise SelectionError(f"--reference {named!r} is not among the consumers checked",
                             hint="add it with --consumers, or name one of them")
    matching = [e for e in consumers if e.sklearn in recorded]
    matching.sort(key=lambda e: e.arch != HOST_ARCH)
    if matching:
        return matching[0], f"its scikit-learn {matching[0].sklearn} is the version the file records"
    if recorded:
        return None, f"no consumer has scikit-learn {', '.join(recorded)}, the version the file records"
    return None, "the file records no scikit-learn version"


def _producer_record(raw, fmt):
    """A consumer's raw outputs as a producer's record (dtype, shape, data), for judging others."""
    try:
        child = json.loads(raw.get("child") or "")
    except ValueError:
        return None
    if not isinstance(child, dict) or child.get("load") != "ok":
        return None
    methods = {}
    if fmt == "onnx":
        graphs = child.get("graph") if isinstance(child.get("graph"), dict) else {}
        for input_name, pairs in graphs.items():
            if not isinstance(pairs, list) or input_name not in INPUTS:
                continue
            names = [p[0] for p in pairs if isinstance(p, list) and len(p) == 2 and isinstance(p[0], str)]
            mapping = judge.onnx_methods(names, dict.fromkeys(CORE_METHODS))
            for name, rec in pairs:
                if name in mapping:
                    methods[mapping[name] + ("" if input_name == "fixed" else "@" + input_name)] = rec
    else:
        methods = child.get("methods") if isinstance(child.get("methods"), dict) else {}
    out = {}
    for call, rec in methods.items():
        if split_call(call)[1] not in INPUTS or not isinstance(rec, dict):
            continue
        if rec.get("kind") == "error":
            out[call] = {"error": rec.get("error")}
        elif rec.get("kind") == "ok":
            try:
                arr = judge.decode_consumer(rec)
            except judge.Unusable:
                continue
            out[call] = {"dtype": str(arr.dtype), "shape": list(arr.shape), "data": arr.tolist(),
                         **({"sparse": True} if rec.get("sparse") else {})}
    # Warnings the reference's own calls raised (log of a zero probability) are no news elsewhere.
    said = [f"{w.get('category')}: {w.get('message')}" for w in child.get("predict_warnings") or ()
            if isinstance(w, dict)]
    return {"schema": SCHEMA_VERSION, "task": "user", "methods": out, "predict_warnings": said,
            "state": child.get("state")}


class _Expected:
    """What _run_loader asks of producer records: the input hash, and the record to judge with."""

    def __init__(self, input_sha256, record=None):
        self.input_sha256, self.record = input_sha256, record

    def get(self, cell):
        return dict(self.record or {"methods": {}}, input_sha256=self.input_sha256)


class _Lines(list):
    """Where _run_loader writes judged lines."""

    def write(self, line):
        self.append(line)


@dataclasses.dataclass
class Checked:
    """One file checked in every selected consumer."""

    inspection: dict
    reference: str
    reference_why: str
    basis: str
    consumers: list
    strict: bool = False

    def passes(self, line):
        """Whether one consumer loaded it and predicted like the reference (or the others)."""
        return line["status"] in (PASSING if not self.strict else (Status.IDENTICAL, Status.CLOSE))

    @property
    def passed(self):
        """Whether every consumer passes."""
        return bool(self.consumers) and all(self.passes(c) for c in self.consumers)


def _loader(run, env, cells, tree, expected, timeout):
    """The raw loader records of cells in one consumer, by key, and its judged lines."""
    built = run.builds[env.id]
    out, raw = _Lines(), {}
    if not built.ok:
        return raw, [dict(blank_result(c, env.id), status=Status.CRASH, error={
            "type": "BuildFailed", "message": judge.text(built.error)}) for c in cells]
    attempt = loads._run_loader(run.runner, run.matrix, env, built, [[c] for c in cells], tree, expected, out,
                                timeout, env.arch != HOST_ARCH, keep=raw)
    for cell in cells[attempt.answered:]:
        why = attempt.problem or f"it exited with code {attempt.code}"
        out.write(dict(blank_result(cell, env.id), status=Status.CRASH, error={
            "type": "LoaderDied", "message": judge.text(f"the loader stopped ({why}): {attempt.stderr[-300:]}")}))
    return raw, list(out)


def check_files(run, files, consumers, sample=None, reference=None, strict=False, reports="reports",
                cell_timeout=None):
    """[Checked] for each file, loaded in each consumer's sandbox (run: a pipeline.Run)."""
    infos = [inspection.inspect(f) for f in files]
    sample_bytes = read_sample(sample) if sample else b""
    digest = sha256_text(*(sha256_file(f) for f in files), hashlib.sha256(sample_bytes).hexdigest())[:12]
    tree = RunTree(Path(reports).resolve() / f"check-{digest}")
    folder = tree.root / "artifacts" / "user"
    folder.mkdir(parents=True, exist_ok=True)
    sample_rel, sample_sha = "", "0" * 64
    if sample_bytes:
        sample_rel, sample_sha = "user/sample.npy", hashlib.sha256(sample_bytes).hexdigest()
        write_bytes(folder / "sample.npy", sample_bytes)
    cells = []
    for path, info in zip(files, infos):
        sha = sha256_file(path)
        shutil.copyfile(path, folder / sha[:16])
        (folder / sha[:16]).chmod(0o644)
        key = sha256_text("check", sha, info["format"], sample_sha, inside_hash())[:24]
        cells.append(Cell(key, "user", info["file"], info["format"], f"user/{sha[:16]}", "", sha, "", None,
                          "user", sample=sample_rel))
    run.build(dataclasses.replace(run.matrix, envs=tuple(consumers)))
    raws, firsts = {}, {}
    for env in consumers:
        timeout = cell_timeout or (loads.EMULATED_CELL_TIMEOUT if env.arch != HOST_ARCH else loads.CELL_TIMEOUT)
        raws[env.id], firsts[env.id] = _loader(run, env, cells, tree, _Expected(sample_sha), timeout)
    results = []
    for i, (cell, info) in enumerate(zip(cells, infos)):
        ref, why = choose_reference(consumers, info["sklearn_versions"], reference)
        basis = ref
        record = _producer_record(raws[ref.id].get(cell.key) or {}, cell.format) if ref else None
        if record is None:
            # No reference (or it could not load the file): consumers are compared with the first
            # that produced outputs, which says whether they agree, not whether they are right.
            basis = next((e for e in consumers if _producer_record(raws[e.id].get(cell.key) or {}, cell.format)), None)
            record = _producer_record(raws[basis.id][cell.key], cell.format) if basis else None
            if ref is not None:
                why += ", but it could not load the file"
                ref = None
        lines = []
        for env in consumers:
            raw = raws[env.id].get(cell.key)
            if raw is None:
                lines.append(firsts[env.id][i] if i < len(firsts[env.id]) else blank_result(cell, env.id))
                continue
            tol = run.matrix.tolerance_for(cell.format)
            line = judge.judge(cell, env.id, raw, dict(record or {"methods": {}}, input_sha256=sample_sha),
                               (tol.rtol, tol.atol), loads.CELL_TIMEOUT)
            child = _child(raw)
            if isinstance(child.get("input"), dict):
                line["input"] = child["input"]
            lines.append(line)
        results.append(Checked(info, ref.id if ref else "", why, basis.id if basis else "", lines, strict))
    write_json(tree.root / "check.json", to_json(results))
    return results, tree


def _child(raw):
    try:
        child = json.loads(raw.get("child") or "{}")
    except ValueError:
        return {}
    return child if isinstance(child, dict) else {}


def to_json(results):
    """The machine-readable answer."""
    return {"schema": SCHEMA_VERSION, "passed": all(r.passed for r in results),
            "files": [{"inspection": r.inspection, "reference": r.reference or None, "reference_why": r.reference_why,
                       "compared_with": r.basis or None, "passed": r.passed, "strict": r.strict,
                       "consumers": [{k: c.get(k) for k in ("consumer", "status", "max_abs", "max_rel", "error",
                                                            "warnings", "type_changes", "grid", "methods", "input",
                                                            "state")}
                                     for c in r.consumers]} for r in results]}


def table(results):
    """The answer as terminal lines."""
    out = []
    for r in results:
        out += inspection.lines(r.inspection)
        if r.reference:
            out.append(f"  reference: {r.reference} ({r.reference_why})")
        else:
            out.append(f"  no reference: {r.reference_why}; consumers are compared with "
                       f"{r.basis or 'nothing (none produced outputs)'}, which says whether they agree, not whether they are right")
        width = max([len(c["consumer"]) for c in r.consumers] + [8])
        for c in r.consumers:
            err = c.get("error") or {}
            detail = f"{err.get('type')}: {err.get('message')}" if err else ""
            if not detail and c["status"] == Status.UNCOMPARED:
                detail = (c.get("input") or {}).get("why") or "no output could be compared"
            if not detail and c.get("warnings"):
                detail = "; ".join(f"{w['category']}: {w['message']}" for w in c["warnings"][:2])
            detail = detail.splitlines()[0] if detail else ""
            diff = f"max |diff| {c['max_abs']:.3g}" if c.get("max_abs") else ""
            out.append(term_text(f"  {c['consumer']:<{width}}  {c['status']:<13} {diff:<18} {detail}"[:300]))
            out += [term_text(f"  {'':<{width}}  {line}"[:300]) for line in state_lines(c)[:2]]
        out.append(f"  {'PASS' if r.passed else 'FAIL'}: {sum(r.passes(c) for c in r.consumers)} of "
                   f"{len(r.consumers)} consumers load it and predict like the "
                   + ("reference" if r.reference else "others"))
    return out


def select_consumers(matrix, pattern):
    """The matrix's environments whose id matches the glob (all when None)."""
    chosen = [e for e in matrix.envs if pattern is None or fnmatch.fnmatchcase(e.id, pattern)]
    if not chosen:
        raise SelectionError(f"no environment of matrix {matrix.name!r} matches --consumers {pattern!r}",
                             hint="`python -m harness list` shows them")
    return chosen


def write_html(results, path):
    """The answer as a self-contained page in the report's style."""
    from ..report.render import environment
    from ..report.texts import STATUSES

    page = environment().get_template("check.html.j2").render(
        results=results, passed=all(r.passed for r in results), statuses=STATUSES, state_lines=state_lines)
    write_bytes(Path(path), page.encode("utf-8"))

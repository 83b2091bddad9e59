"""Merge a run's stages into results.json.gz and results.parquet: environments, dumps and every computed cell."""

import datetime
import math
import platform

from .. import __version__
from ..results import cells as cells_mod
from ..envs.images import consumer_identity
from ..results.record import pending
from ..stages import load as loads
from ..results import proof, file as results_file
from ..config.checks import FAILING
from ..core.errors import ResultsSchemaError
from .model import carry_since
from ..stages.tree import inside_hash
from ..results.file import RESULTS_SCHEMA
from ..core.untrusted import UntrustedInput, load_manifest


def manifest_state(tree, env_id):
    """(checked manifest or None, refusal reason or "", [(estimator, reason)] of refused entries) of a producer."""
    try:
        manifest, problems = load_manifest(tree.manifest(env_id))
    except FileNotFoundError:
        return None, "", []
    except UntrustedInput as exc:  # this producer is reported as a failed dump; the others go on
        return None, str(exc), []
    return manifest, "", list(problems)


def environment_records(matrix, tree, locks):
    """One record per environment: axes, pins, and the recorded build and dump outcomes."""
    by_lock = {lock.env_id: lock for lock in locks}
    out = []
    for env in matrix.envs:
        lock = by_lock.get(env.id)
        dump = tree.load_status("dump", env.id)
        _, refused, problems = manifest_state(tree, env.id)
        if refused:
            dump = dict(dump or {"env_id": env.id}, ok=False, error=f"manifest refused: {refused}")
        record = {
            "id": env.id, "sklearn": env.sklearn, "python": env.python, "numpy": env.numpy,
            "arch": env.arch, "numpy_pin": env.numpy_pin, "scipy_pin": env.scipy_pin,
            "pinned": ({"image": env.image, "scikit-learn": env.sklearn, "numpy": env.numpy_pin} if env.image
                       else lock.pinned() if lock else {}),
            "missing_formats": dict(lock.missing) if lock else {},
            "build": tree.load_status("build", env.id),
            "dump": dump,
        }
        coverage = _coverage((manifest_state(tree, env.id)[0] or {}).get("coverage"))
        if coverage:
            record["coverage"] = coverage
        if problems:  # entries of the manifest that cost only their own cells
            record["refused_estimators"] = [{"estimator": str(name), "reason": reason} for name, reason in problems]
        out.append(record)
    return out


MAX_UNCOVERED = 100


def _coverage(value):
    """A producer's catalogue coverage (all_estimators() against what it dumped), checked: the
    manifest travels with the artifacts."""
    if not isinstance(value, dict) or not isinstance(value.get("classes"), dict):
        return None
    classes = value["classes"]
    uncovered = {str(k)[:100]: str(v)[:200] for k, v in list(classes.items())[:1000] if v != "covered"}
    return {"all": len(classes), "covered": sum(1 for v in classes.values() if v == "covered"),
            "uncovered": dict(sorted(uncovered.items())[:MAX_UNCOVERED])}


def producer_not_applicable(tree, producers):
    """Formats a producer could not write, with the reason (shown as n/a, not as blanks)."""
    out = []
    for producer in producers:
        manifest = manifest_state(tree, producer)[0] or {}
        for est in manifest.get("estimators", []):
            for fmt, rec in est.get("formats", {}).items():
                if rec.get("status") != "ok":
                    out.append({"producer": producer, "estimator": est["name"], "family": est.get("family", ""),
                                "format": fmt, "status": rec.get("status"),
                                "reason": rec.get("reason") or (rec.get("error") or {}).get("message", "")})
    return out


def collect_cells(matrix, tree, producers, known_counts=None):
    """The current record of every cell of every consumer (stale keys left out); known_counts,
    when given, receives how many cells each [[known]] entry explains, by index."""
    inside = inside_hash()
    out = []
    families, scores = {}, {}
    for producer in producers:
        for est in (manifest_state(tree, producer)[0] or {}).get("estimators", []):
            families[est["name"]] = est.get("family", "")
            scores[(producer, est["name"])] = _cv_scores(est)
    for env in matrix.envs:
        built = tree.load_status("build", env.id)
        if not built or not built.get("ok"):
            continue
        records = cells_mod.read_all(tree.result_files(env.id))
        identity = consumer_identity(built["tag"], built.get("runtime") or {})
        for cell in cells_mod.cells_for(identity, producers, tree, matrix, inside, consumer=env.id):
            record = records.get(cell.key)
            if record is None:
                record = pending(cell, env.id)
            # The cell, not the line, says where the artifact came from (a copied line once kept
            # its representative's producer).
            record = dict(record, producer=cell.producer, estimator=cell.estimator, format=cell.format,
                          consumer=env.id, family=families.get(cell.estimator, "canary" if cell.canary else ""))
            cv = _cv_check(scores.get((cell.producer, cell.estimator)), scores.get((env.id, cell.estimator)))
            if cv and cell.producer != env.id:
                record["cv"] = cv
            if cell.canary:
                record["canary"] = {"status": cell.canary, "type_change": cell.canary_type_change}
            elif record.get("status") in FAILING:
                for index, known in enumerate(matrix.known):
                    if known.matches(cell.producer, env.id, cell.format, cell.estimator) and known.explains(record):
                        record["known"] = {"reason": known.reason, "link": known.link}
                        if known_counts is not None:
                            known_counts[index] = known_counts.get(index, 0) + 1
                        break
            out.append(record)
    return out


def _cv_scores(est):
    """The 3-fold cross-validation scores a producer's manifest records for an estimator, or None."""
    values = est.get("cv_scores")
    if isinstance(values, list) and values and all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
        return [float(v) for v in values[:10]]
    return None


def _cv_check(producer, consumer):
    """Whether the consumer's own cross-validation score (a retrain there) is in the range of the
    producer's fold scores: the check the persistence guide recommends before trusting a model."""
    if not producer or not consumer:
        return None
    mean = sum(consumer) / len(consumer)
    low, high = min(producer), max(producer)
    return {"consumer": round(mean, 6), "producer": [round(low, 6), round(high, 6)], "in_range": low <= mean <= high}


def dumped_producers(matrix, tree):
    """Producers whose dump finished (their manifest exists) and whose manifest the host can use."""
    return [env.id for env in matrix.envs if manifest_state(tree, env.id)[0] is not None]


def _read_results(path):
    """A results file (another run's, perhaps another machine's) read within bounds, or None when absent."""
    try:
        return results_file.read(path)
    except FileNotFoundError:
        return None
    except UntrustedInput as exc:
        raise ResultsSchemaError(f"{path} cannot be read: {exc}",
                                 hint="move it away, then run the command again") from None


def write_results(matrix, tree, locks):
    """Write reports/<run>/results.json.gz and results.parquet from the tree, keeping the previous
    results for "what changed"."""
    producers = dumped_producers(matrix, tree)
    results = {
        "schema": RESULTS_SCHEMA,
        "matrix": matrix.name,
        "generated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "harness": {"version": __version__, "inside": inside_hash(), "host_machine": platform.machine()},
        "formats": list(matrix.formats),
        "tolerances": {"default": matrix.tolerance.__dict__,
                       **{fmt: tol.__dict__ for fmt, tol in matrix.format_tolerances}},
        "known": [],
        "sandbox": loads.sandbox_record(),
        "environments": environment_records(matrix, tree, locks),
        "dropped": [{"id": d.id, "reason": d.reason} for d in matrix.dropped],
        "producer_na": producer_not_applicable(tree, producers),
    }
    counts = {}
    results["cells"] = collect_cells(matrix, tree, producers, counts)
    # Each entry with the cells it explains: one that explains none is stale, and the report says so.
    results["known"] = [dict(k.record(), cells=counts.get(i, 0)) for i, k in enumerate(matrix.known)]
    results["proof"] = proof.check(results["cells"])
    previous, older = _read_results(tree.results_json), _read_results(tree.previous_results_json)
    _refuse_other_schema(tree.results_json, previous)
    _refuse_other_schema(tree.previous_results_json, older)
    if previous and _outcomes(previous) != _outcomes(results):
        # Rotate only when something changed: rerunning `report` must not compare a run with itself.
        tree.results_json.replace(tree.previous_results_json)
        older = previous  # what previous-results now holds: read once, not again
    carry_since(results, older if older and not results_file.other_schema(older) else None)
    results_file.write_parquet(tree.results_parquet, results)
    results_file.write(tree.results_json, results)
    return results


def _refuse_other_schema(path, data):
    """ResultsSchemaError for a results file of another schema: it is neither read nor replaced."""
    found = results_file.other_schema(data) if data is not None else None
    if found:
        raise ResultsSchemaError(f"{path} has {found}, this harness writes schema {RESULTS_SCHEMA}",
                                 hint="move it away (an older harness wrote it), then run the command again")


def _outcomes(results):
    """{cell key: status}: what "what changed" compares."""
    return {c.get("key"): c.get("status") for c in results.get("cells", [])}

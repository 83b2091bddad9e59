"""Merge a run's stages into results.json.gz and results.parquet: environments, dumps and every computed cell."""

import datetime
import functools
import json
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
from . import blocks, model as report_model
from .rows import Pass, cell_id, collector_paused, previous_from, previous_of, since_of
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
        manifest, refused, problems = manifest_state(tree, env.id)
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
        coverage = _coverage((manifest or {}).get("coverage"))
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
    """The current record of every cell of every consumer (stale keys left out), in a list."""
    return list(iter_cells(matrix, tree, producers, known_counts))


def iter_cells(matrix, tree, producers, known_counts=None):
    """The current record of every cell of every consumer (stale keys left out), one consumer's
    results file read at a time; known_counts, when given, receives how many cells each [[known]]
    entry explains, by index."""
    context = _Context(matrix, tree, producers)
    for env_id, identity in context.consumers():
        records = cells_mod.read_all(tree.result_files(env_id))
        for cell in cells_mod.cells_for(identity, producers, tree, matrix, context.inside, consumer=env_id):
            yield context.record(records.get(cell.key), cell, env_id, known_counts)


class _Context:
    """What every cell's record draws on besides its own line: the producers' manifests (families,
    cross-validation scores) and the matrix's [[known]] entries."""

    def __init__(self, matrix, tree, producers):
        self.matrix, self.tree, self.inside = matrix, tree, inside_hash()
        self.families, self.scores, self.names = {}, {}, {}
        for producer in producers:
            estimators = (manifest_state(tree, producer)[0] or {}).get("estimators", [])
            self.names[producer] = [est["name"] for est in estimators]
            for est in estimators:
                self.families[est["name"]] = est.get("family", "")
                self.scores[(producer, est["name"])] = _cv_scores(est)

    def consumers(self):
        """(env id, consumer identity) of every environment whose image was built."""
        for env in self.matrix.envs:
            built = self.tree.load_status("build", env.id)
            if built and built.get("ok"):
                yield env.id, consumer_identity(built["tag"], built.get("runtime") or {})

    def record(self, line, cell, env_id, known_counts=None):
        """The record of a cell in a consumer from its results line (None: no load answered yet)."""
        record = pending(cell, env_id) if line is None else line
        # The cell, not the line, says where the artifact came from (a copied line once kept
        # its representative's producer).
        record = dict(record, producer=cell.producer, estimator=cell.estimator, format=cell.format,
                      consumer=env_id, family=self.families.get(cell.estimator, "canary" if cell.canary else ""))
        cv = _cv_check(self.scores.get((cell.producer, cell.estimator)), self.scores.get((env_id, cell.estimator)))
        if cv and cell.producer != env_id:
            record["cv"] = cv
        if cell.canary:
            record["canary"] = {"status": cell.canary, "type_change": cell.canary_type_change}
        elif record.get("status") in FAILING:
            for index, known in enumerate(self.matrix.known):
                if known.matches(cell.producer, env_id, cell.format, cell.estimator) and known.explains(record):
                    record["known"] = {"reason": known.reason, "link": known.link}
                    if known_counts is not None:
                        known_counts[index] = known_counts.get(index, 0) + 1
                    break
        return record

    def fingerprint(self, env_id, identity, producer, code, manifests):
        """What the records of (consumer, producer) are made of: blocks.fingerprint of it all."""
        families = [(name, self.families.get(name, "")) for name in self.names.get(producer, ())]
        return blocks.fingerprint(code, self.inside, RESULTS_SCHEMA, env_id, identity, producer,
                                  manifests(producer), manifests(env_id), families,
                                  [k.record() for k in self.matrix.known], self.matrix.tolerance.__dict__,
                                  [(fmt, tol.__dict__) for fmt, tol in self.matrix.format_tolerances])


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


def write_results(matrix, tree, locks, model=False):
    """Write reports/<run>/results.json.gz and results.parquet from the tree, a cell at a time,
    keeping the previous results for "what changed"; returns {"cells": count, "proof": {...}},
    with model=True also "model": the report's view model made in the same pass (None when the
    report must compare with older results than the pass did, and so read the files)."""
    with collector_paused():
        return _write_results(matrix, tree, locks, model)


def _write_results(matrix, tree, locks, model):
    producers = dumped_producers(matrix, tree)
    header = {
        "schema": RESULTS_SCHEMA,
        "matrix": matrix.name,
        "generated": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "harness": {"version": __version__, "inside": inside_hash(), "host_machine": platform.machine()},
        "formats": list(matrix.formats),
        "tolerances": {"default": matrix.tolerance.__dict__,
                       **{fmt: tol.__dict__ for fmt, tol in matrix.format_tolerances}},
        "sandbox": loads.sandbox_record(),
        "environments": environment_records(matrix, tree, locks),
        "dropped": [{"id": d.id, "reason": d.reason} for d in matrix.dropped],
        "producer_na": producer_not_applicable(tree, producers),
    }
    previous, outcomes = _previous(tree.results_json, parquet=tree.results_parquet)
    # "since" comes from the last results, or, without them, from the ones before; those are
    # refused now when of another schema either way.
    older = _previous(tree.previous_results_json, cells=previous is None)[0]
    baseline = previous or older
    seen = Pass(header["generated"], baseline)
    written, store = _merge(matrix, tree, producers, header, baseline, seen)
    rotated = previous is not None and written.outcomes != outcomes
    if rotated:
        # Rotate only when something changed: rerunning `report` must not compare a run with itself.
        tree.results_json.replace(tree.previous_results_json)
    try:
        written.close()
    except BaseException:
        store.abort()
        raise
    store.commit()
    merged = {"cells": written.cells, "proof": header["proof"], "blocks": store.counts}
    if model:
        # The page compares with the results kept as previous: the pass's baseline unless they stayed.
        # The header as a reader of the file gets it (keys sorted, tuples as lists): the same page.
        as_read = json.loads(results_file.dumps(header))
        merged["model"] = report_model.finish(as_read, seen) if rotated or previous is None else None
    return merged


class _Written:
    """The results files of one merge, in place once closed."""

    def __init__(self, tree, header):
        self.json = results_file.Writer(tree.results_json, header)
        self.parquet = results_file.ParquetWriter(tree.results_parquet, header)
        self.outcomes = Outcomes()

    def add_block(self, part, table):
        """Take a block's cells: their results text (a Segment) and their Parquet rows."""
        self.json.add_segment(part)
        self.parquet.add_table(table)
        for key, status in zip(table.column("key").to_pylist(), table.column("status").to_pylist()):
            self.outcomes.add_pair(key, status)

    @property
    def cells(self):
        return self.json.cells

    def close(self):
        self.parquet.close()
        self.json.close()

    def abort(self):
        self.parquet.abort()
        self.json.abort()


def _merge(matrix, tree, producers, header, previous, seen):
    """One pass over every block of cells into the results files and seen (a rows.Pass), "since"
    carried from previous (a rows.Previous or None); a block the last merge left unchanged is taken
    whole. Header receives "merge", "known" and "proof"; returns (_Written, blocks.Store)."""
    counts, tally = {}, proof.Tally()
    store = blocks.Store(tree.root, previous.merge if previous else "")
    header["merge"] = store.id
    written = _Written(tree, header)
    context = _Context(matrix, tree, producers)
    manifests = functools.lru_cache(maxsize=None)(lambda env_id: blocks.file_sha(tree.manifest(env_id)))
    try:
        for env_id, identity in context.consumers():
            source = store.source(env_id, tree.result_files(env_id))
            for producer in producers:
                print_ = context.fingerprint(env_id, identity, producer, store.code, manifests)
                entry = store.kept(env_id, producer, print_, source)
                if entry is not None:
                    part, table, rows, state = store.load(entry)
                    written.add_block(part, table)
                    seen.add_kept(rows, state["pass"])
                else:
                    cells = cells_mod.cells_for(identity, [producer], tree, matrix, context.inside, consumer=env_id)
                    block = store.fresh(env_id, producer, print_, header["generated"])
                    state = _make_block(block, cells, source.records([c.key for c in cells]), context, env_id,
                                        previous, seen, written)
                tally.absorb(state["proof"])
                _add_counts(counts, state["known"])
    except BaseException:
        written.abort()
        store.abort()
        raise
    # Each entry with the cells it explains: one that explains none is stale, and the report says so.
    header["known"] = [dict(k.record(), cells=counts.get(i, 0)) for i, k in enumerate(matrix.known)]
    header["proof"] = tally.result()
    return written, store


def _make_block(block, cells, lines, context, env_id, previous, seen, written):
    """Make a block's records from the load stage's lines into written and seen, and write the
    block for the next merge; its tallies' state."""
    part, part_tally, part_counts = Pass(seen.generated, previous, memo=seen.memo), proof.Tally(), {}
    for cell in cells:
        record = context.record(lines.get(cell.key), cell, env_id, part_counts)
        _date(record, previous, block.generated)
        part_tally.add(record)
        text = results_file.dumps(record)
        block.add(record, text, results_file.parquet_row(record, text), part.add(record))
    state = {"pass": part.state(), "proof": part_tally.state(), "known": part_counts}
    written.add_block(*block.finish(state))
    seen.absorb(part, state["pass"])
    return state


def _date(record, previous, generated):
    """Set or drop a cell's "since" from the previous run's outcome of it."""
    since = since_of(record, previous.before.get(cell_id(record)) if previous else None,
                     generated, previous.generated if previous else None)
    if since:
        record["since"] = since
    else:
        record.pop("since", None)


def _add_counts(counts, more):
    """Add a block's {known entry index: cells} (JSON keys are strings)."""
    for index, count in more.items():
        counts[int(index)] = counts.get(int(index), 0) + count


class Outcomes:
    """{cell key: status} of cells added one at a time, as a count and a sum of hashes: what
    "what changed" compares, without holding a million keys (compared within one process only)."""

    def __init__(self):
        self.count, self.sum = 0, 0

    def add(self, record):
        self.add_pair(record.get("key"), record.get("status"))

    def add_pair(self, key, status):
        self.count += 1
        self.sum = (self.sum + hash((str(key), str(status)))) & ((1 << 64) - 1)

    def __eq__(self, other):
        return isinstance(other, Outcomes) and (self.count, self.sum) == (other.count, other.sum)


def _previous(path, cells=True, parquet=None):
    """(rows.Previous, Outcomes) of a results file (another run's, perhaps another machine's) read
    within bounds, (None, None) when absent; ResultsSchemaError for one of another schema. With
    cells=False only the header is checked; with parquet, the cells come from that results.parquet
    when it was written with these results."""
    try:
        header, records = results_file.open_results(path)
    except FileNotFoundError:
        return None, None
    except UntrustedInput as exc:
        raise _unreadable(path, exc) from None
    _refuse_other_schema(path, header)
    if not cells:
        return None, None
    outcomes = Outcomes()
    batches = results_file.parquet_outcomes(parquet, header.get("generated")) if parquet else None
    if batches is not None:
        return _previous_of_columns(header, batches, outcomes), outcomes

    def counted():
        try:
            for record in records:
                if isinstance(record, dict):
                    outcomes.add(record)
                    yield record
        except UntrustedInput as exc:
            raise _unreadable(path, exc) from None

    return previous_of(dict(header, cells=counted())), outcomes


def _previous_of_columns(header, batches, outcomes):
    """rows.Previous of the last results' outcome columns (results_file.parquet_outcomes)."""
    def rows_of():
        for batch in batches:
            for key, *ident, status, since in zip(*(batch[c] for c in results_file.OUTCOME_COLUMNS)):
                outcomes.add_pair(key, status)
                yield ident, status, since
    return previous_from(header.get("generated"), rows_of(), header.get("merge"))


def _unreadable(path, exc):
    return ResultsSchemaError(f"{path} cannot be read: {exc}", hint="move it away, then run the command again")


def _refuse_other_schema(path, data):
    """ResultsSchemaError for a results file of another schema: it is neither read nor replaced."""
    found = results_file.other_schema(data) if data is not None else None
    if found:
        raise ResultsSchemaError(f"{path} has {found}, this harness writes schema {RESULTS_SCHEMA}",
                                 hint="move it away (an older harness wrote it), then run the command again")

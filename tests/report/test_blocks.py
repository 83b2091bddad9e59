"""A merge that keeps blocks from the last one writes what a merge that reads every cell writes."""

import dataclasses
import datetime
import importlib.util
import json
import re
import shutil
import types
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from harness.report import blocks, collect, render
from harness.results import file as results_file
from harness.stages.tree import RunTree

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("merge_synthetic", REPO / "bench" / "merge_synthetic.py")
synthetic = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(synthetic)


def _at(monkeypatch, when):
    """Merges from now on are dated when (two trees merged alike then say the same)."""
    class Fixed(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.datetime.fromisoformat(when)
    monkeypatch.setattr(collect, "datetime", types.SimpleNamespace(datetime=Fixed, timezone=datetime.timezone))


def _merge(matrix, root):
    tree = RunTree(Path(root) / "synthetic")
    merged = collect.write_results(matrix, tree, [], model=True)
    render.render(tree.root, model=merged.pop("model"))
    return merged, tree


def _published(tree):
    """What a merge and report published, but the merge's own id."""
    header, cells = results_file.open_results(tree.results_json)
    header.pop("merge")
    page = re.sub(r"nonce(-|=\")[0-9a-f]+", "nonce", (tree.root / "index.html").read_text(encoding="utf-8"))
    return header, list(cells), pq.read_table(tree.results_parquet).to_pylist(), page


def _again_from_scratch(root, copy):
    """A copy of a tree without its blocks: its next merge reads every cell."""
    shutil.copytree(root, copy)
    shutil.rmtree(Path(copy) / "synthetic" / blocks.FOLDER)
    return copy


@pytest.fixture
def tree_root(tmp_path):
    root = tmp_path / "kept"
    return root, synthetic.write_tree(root, 8000, seed=3)


def test_a_merge_with_nothing_changed_keeps_every_block_and_writes_the_same(tree_root, tmp_path, monkeypatch):
    root, matrix = tree_root
    _at(monkeypatch, "2026-12-01T10:00:00+00:00")
    first, _ = _merge(matrix, root)
    assert first["blocks"]["kept"] == 0 and first["blocks"]["made"] > 4
    scratch = _again_from_scratch(root, tmp_path / "scratch")
    _at(monkeypatch, "2026-12-02T10:00:00+00:00")
    kept, kept_tree = _merge(matrix, root)
    made, made_tree = _merge(matrix, scratch)
    assert kept["blocks"] == {"kept": first["blocks"]["made"], "made": 0}
    assert made["blocks"] == {"kept": 0, "made": first["blocks"]["made"]}
    ours, theirs = _published(kept_tree), _published(made_tree)
    assert ours[0] == theirs[0] and ours[1] == theirs[1] and ours[2] == theirs[2]
    assert ours[3] == theirs[3]
    # Failing cells new in the first merge have no "since" there; the second dates them to it.
    dated = [c for c in ours[1] if c.get("since") == "2026-12-01T10:00:00+00:00"]
    assert dated, "the synthetic tree has failing cells that were new in the first merge"


def test_adding_an_environment_makes_only_its_row_and_column(tree_root, tmp_path, monkeypatch):
    root, matrix = tree_root
    producers = collect.dumped_producers(matrix, RunTree(root / "synthetic"))
    added = producers[1]
    smaller = dataclasses.replace(matrix, envs=tuple(e for e in matrix.envs if e.id != added))
    _at(monkeypatch, "2026-12-01T10:00:00+00:00")
    first, tree = _merge(smaller, root)
    # A cell of a kept block loaded again since (appended, as the load stage does): its block is made again.
    consumer, line = producers[0], None
    for raw in tree.results(consumer).read_text().splitlines():
        record = json.loads(raw)
        if record.get("producer") == producers[2]:
            line = dict(record, status="crash", error={"type": "", "message": "exited with signal 11"})
            break
    with open(tree.results(consumer), "a") as out:
        out.write(json.dumps(line) + "\n")
    scratch = _again_from_scratch(root, tmp_path / "scratch")
    _at(monkeypatch, "2026-12-02T10:00:00+00:00")
    kept, kept_tree = _merge(matrix, root)
    made, made_tree = _merge(matrix, scratch)
    consumers = first["blocks"]["made"] // (len(producers) - 1)
    # The new producer's column and its row (it is a consumer too), and the block loaded again.
    assert kept["blocks"]["made"] == consumers + len(producers) + 1
    assert kept["blocks"]["kept"] == first["blocks"]["made"] - 1
    ours, theirs = _published(kept_tree), _published(made_tree)
    assert ours == theirs
    assert [c["status"] for c in ours[1] if c["key"] == line["key"] and c["consumer"] == consumer] == ["crash"]


def test_no_block_is_kept_when_the_last_results_are_not_the_baseline(tree_root, monkeypatch):
    root, matrix = tree_root
    _at(monkeypatch, "2026-12-01T10:00:00+00:00")
    _merge(matrix, root)
    tree = RunTree(root / "synthetic")
    tree.results_json.unlink()  # the merge that left the blocks is no longer what the next one compares with
    assert _merge(matrix, root)[0]["blocks"]["kept"] == 0


def test_crc32_combine_is_zlibs():
    import zlib

    a, b = b"x" * 1000 + b"abc", bytes(range(256)) * 37
    assert results_file.crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)
    assert results_file.crc32_combine(zlib.crc32(a), zlib.crc32(b""), 0) == zlib.crc32(a)


def test_a_results_file_rewritten_since_is_read_again_whole(tree_root, monkeypatch):
    root, matrix = tree_root
    _at(monkeypatch, "2026-12-01T10:00:00+00:00")
    first, tree = _merge(matrix, root)
    consumer = collect.dumped_producers(matrix, tree)[0]
    path = tree.results(consumer)
    lines = path.read_text().splitlines(keepends=True)
    changed = dict(json.loads(lines[0]), status="timeout", error={"type": "", "message": "over 60 s"})
    # Rewritten, not appended to: the line the last merge read is another one now.
    path.with_suffix(".tmp").write_text(json.dumps(changed) + "\n" + "".join(lines[1:]))
    path.with_suffix(".tmp").replace(path)
    _at(monkeypatch, "2026-12-02T10:00:00+00:00")
    again, _ = _merge(matrix, root)
    consumers = sum(1 for _ in collect._Context(matrix, tree, []).consumers())
    assert again["blocks"]["made"] == first["blocks"]["made"] // consumers  # that consumer's row
    cells = [c for c in results_file.open_results(tree.results_json)[1] if c["key"] == changed["key"]]
    assert [c["status"] for c in cells if c["consumer"] == consumer] == ["timeout"]


def test_a_merge_interrupted_halfway_leaves_the_last_ones_blocks_usable(tree_root, tmp_path, monkeypatch):
    root, matrix = tree_root
    _at(monkeypatch, "2026-12-01T10:00:00+00:00")
    first, tree = _merge(matrix, root)
    before = sorted(p.name for p in (tree.root / blocks.FOLDER).iterdir())
    real_finish = blocks.Block.finish

    def finish_then_stop(self, state):
        real_finish(self, state)  # its files are written
        raise KeyboardInterrupt  # then Ctrl-C

    # A cell loaded again, so that the interrupted merge has blocks to make.
    consumer = collect.dumped_producers(matrix, tree)[0]
    line = json.loads(tree.results(consumer).read_text().splitlines()[0])
    with open(tree.results(consumer), "a") as out:
        out.write(json.dumps(dict(line, status="crash", error={"type": "", "message": "signal 11"})) + "\n")
    monkeypatch.setattr(blocks.Block, "finish", finish_then_stop)
    _at(monkeypatch, "2026-12-02T10:00:00+00:00")
    with pytest.raises(KeyboardInterrupt):
        _merge(matrix, root)
    monkeypatch.setattr(blocks.Block, "finish", real_finish)
    # Nothing of it stays: the last merge's blocks, index and results are as they were.
    assert sorted(p.name for p in (tree.root / blocks.FOLDER).iterdir()) == before
    assert results_file.open_results(tree.results_json)[0]["merge"] == json.loads(
        (tree.root / blocks.FOLDER / blocks.INDEX).read_text())["merge"]
    scratch = _again_from_scratch(root, tmp_path / "scratch")
    again, again_tree = _merge(matrix, root)
    assert again["blocks"]["kept"] == first["blocks"]["made"] - 1 and again["blocks"]["made"] == 1
    assert _published(again_tree) == _published(_merge(matrix, scratch)[1])


def test_a_damaged_block_is_made_again(tree_root, tmp_path, monkeypatch):
    root, matrix = tree_root
    _at(monkeypatch, "2026-12-01T10:00:00+00:00")
    first, tree = _merge(matrix, root)
    folder = tree.root / blocks.FOLDER
    segment, table = sorted(folder.glob("*.deflate"))[0], sorted(folder.glob("*.arrow"))[-1]
    segment.write_bytes(segment.read_bytes()[:-5] + b"\0" * 5)  # copied as it is, it would spoil results.json.gz
    table.write_bytes(table.read_bytes()[:100])
    scratch = _again_from_scratch(root, tmp_path / "scratch")
    _at(monkeypatch, "2026-12-02T10:00:00+00:00")
    again, again_tree = _merge(matrix, root)
    assert again["blocks"]["made"] == 2 and again["blocks"]["kept"] == first["blocks"]["made"] - 2
    assert _published(again_tree) == _published(_merge(matrix, scratch)[1])

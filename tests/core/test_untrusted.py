"""What producers and other machines hand the host: bounded JSON, confined paths, checked manifests,
inert Markdown and terminal text, and the places of the host that read or show them."""

import hashlib
import json
import os
import time
import re

import pytest

from conftest import DATA
from harness.results import combine, file as results_file
from harness.stages import dump as dumps, hashcache
from harness.report import collect as merge, render as report
from harness import workflow as pipeline
from harness.core import untrusted
from harness.config import matrix as matrix_mod
from harness.envs.images import Built
from harness.inside.schema import SCHEMA_VERSION
from harness.core.files import write_json
from harness.stages.tree import RunTree
from harness.core.untrusted import UntrustedInput, check_manifest, confined, load_manifest, md_code, md_text, read_json_bounded, term_text

NESTED = "[" * 100_000 + "]" * 100_000
IMAGE = "![x](http://evil/p.png)"
LINK = "[click](http://evil)"
ANSI = "\x1b[2J\x1b[31mred\x1b]0;title\x07\r\x9b"


def sha(data):
    return hashlib.sha256(data).hexdigest()


def write_text(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def entry(name, folder=None, fmt="pickle", file=None, data=b"artifact", **extra):
    """One manifest entry with an ok artifact and outputs; its files written when folder is given."""
    file = file or f"{name}/model.pkl"
    if folder is not None and not file.startswith(("/", "..")):
        (folder / name).mkdir(parents=True, exist_ok=True)
        (folder / file).write_bytes(data)
        (folder / name / "outputs.json").write_text("{}")
    return {"name": name, "family": "linear", "task": "classification", "class": "sklearn.X",
            "outputs": {"file": f"{name}/outputs.json", "sha256": sha(b"{}")},
            "formats": {fmt: {"status": "ok", "file": file, "sha256": sha(data), "untrusted_types": None}},
            **extra}


# ---- read_json_bounded ---------------------------------------------------------------------------

def test_a_deep_nesting_is_refused_before_json_could_recurse(tmp_path):
    with pytest.raises(RecursionError):
        json.loads(NESTED)  # the attack: this stopped the whole load stage
    path = write_text(tmp_path / "manifest.json", NESTED)
    with pytest.raises(UntrustedInput, match="nests more than the 64 levels"):
        read_json_bounded(path, 1 << 20)
    deep_objects = '{"a":' * 100_000 + "1" + "}" * 100_000
    with pytest.raises(UntrustedInput, match="nests"):
        untrusted.loads_bounded(deep_objects)


def test_brackets_inside_strings_do_not_count(tmp_path):
    text = json.dumps({"name": "[" * 10_000 + '\\"{', "list": [[1], {"a": [2]}]})
    path = write_text(tmp_path / "ok.json", text)
    assert read_json_bounded(path, 1 << 20) == json.loads(text)
    assert untrusted.json_depth(text) == 4
    assert untrusted.json_depth('{"a\\\\": [[]]}') == 3  # an escaped backslash ends no string early


def test_the_depth_scan_never_says_less_than_json_would_recurse():
    import random

    def deepest(text):  # what json.loads would reach: it stops at the first backslash outside a string
        depth = peak = 0
        inside = escaped = False
        for char in text:
            if inside:
                escaped, inside = (False, True) if escaped else (char == "\\", char != '"')
            elif char == "\\":
                break
            elif char == '"':
                inside = True
            elif char in "[{":
                depth += 1
                peak = max(peak, depth)
            elif char in "]}":
                depth -= 1
        return peak

    rng = random.Random(7)
    for _ in range(20_000):
        text = "".join(rng.choice('[]{}"\\a ') for _ in range(rng.randint(0, 40)))
        assert untrusted.json_depth(text) >= deepest(text), text
    for value in ([], {"a": [{"b": {}}, {"c": [[], [[]]]}]}, ["\\", '"[', "{"], [[[1]], {"x": "]]]"}]):
        assert untrusted.json_depth(json.dumps(value)) == deepest(json.dumps(value))  # exact on JSON


def test_a_huge_file_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "manifest.json"
    with open(path, "wb") as handle:
        handle.truncate(200 * 1000 * 1000)  # sparse: 200 MB that take no disk
    with pytest.raises(UntrustedInput, match="200,000,000 bytes, more than the 67,108,864 allowed"):
        read_json_bounded(path, untrusted.MANIFEST_MAX)


def test_bad_bytes_bad_json_and_odd_files_are_one_line_refusals(tmp_path):
    cases = {"latin1.json": b'{"name": "caf\xe9"}', "html.json": b"<html>404</html>", "bom.json": b"\xef\xbb\xbf{}"}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(UntrustedInput) as err:
            read_json_bounded(tmp_path / name, 1 << 20)
        assert "\n" not in str(err.value)
    with pytest.raises(FileNotFoundError):
        read_json_bounded(tmp_path / "absent.json", 1 << 20)
    os.symlink("/etc/hostname", tmp_path / "link.json")
    with pytest.raises(UntrustedInput, match="symbolic link"):
        read_json_bounded(tmp_path / "link.json", 1 << 20, nofollow=True)
    os.mkfifo(tmp_path / "fifo.json")
    with pytest.raises(UntrustedInput, match="not a regular file"):  # and it does not hang
        read_json_bounded(tmp_path / "fifo.json", 1 << 20)


# ---- confined --------------------------------------------------------------------------------------

def test_confined_refuses_every_way_out(tmp_path):
    folder = tmp_path / "artifacts" / "p"
    (folder / "Ridge").mkdir(parents=True)
    (folder / "Ridge" / "model.pkl").write_bytes(b"x")
    (tmp_path / "secret").write_text("host file")
    os.symlink(tmp_path, folder / "up")                           # a folder symlink leading out
    os.symlink(folder / "Ridge" / "model.pkl", folder / "alias")  # a symlink even to inside
    assert confined(folder, "Ridge/model.pkl") == (folder / "Ridge" / "model.pkl").resolve()
    assert confined(folder, "Ridge/not-yet.pkl").name == "not-yet.pkl"  # need not exist
    refused = {"../secret": "'..'", "Ridge/../../secret": "'..'", "/etc/passwd": "absolute",
               "up/secret": "leads out", "alias": "symbolic link", "Ridge": "not a regular file",
               "a\0b": "NUL", "..\\secret": "backslash", "": "empty", ".": "names no file"}
    for rel, why in refused.items():
        with pytest.raises(UntrustedInput, match=re.escape(why)):
            confined(folder, rel)
    with pytest.raises(UntrustedInput, match="not a string"):
        confined(folder, ["Ridge", "model.pkl"])


def test_realpath_under_is_realpath_whatever_the_links(tmp_path):
    """The shortcut that looks only at rel's own components resolves exactly like os.path.realpath."""
    from harness.core.untrusted import _realpath_under

    root = tmp_path / "root"
    (root / "d" / "e").mkdir(parents=True)
    (root / "d" / "e" / "f.pkl").write_bytes(b"x")
    os.symlink(tmp_path, root / "up")
    os.symlink("d/e", root / "inner")
    os.symlink("nowhere", root / "dangling")
    os.symlink("../../up", root / "d" / "back")
    rels = ["d/e/f.pkl", "./d//e/f.pkl", "d/e/missing", "missing/x", "d/e/f.pkl/x", "up/root/d", "inner/f.pkl",
            "dangling", "dangling/x", "d/back/root", "d/e/./f.pkl"]
    for rel in rels:
        assert _realpath_under(str(root.resolve()), rel) == os.path.realpath(root.resolve() / rel), rel


# ---- check_manifest ----------------------------------------------------------------------------------

def test_one_bad_entry_costs_only_its_own_cells(tmp_path):
    honest = [entry(name) for name in ("KNeighborsClassifier-kd_tree", "Pipeline-scaler-logistic",
                                       "SGDClassifier-log", "CalibratedClassifierCV-isotonic")]
    bad = [
        entry("Escape", file="../../etc/passwd"),
        entry("Absolute", file="/etc/shadow"),
        dict(entry("BadSha"), formats={"pickle": {"status": "ok", "file": "BadSha/m.pkl", "sha256": "abc"}}),
        entry(IMAGE),
        entry(LINK),
        entry("A" * 201),
        dict(entry("NoOutputs"), outputs=None),
        dict(entry("Types"), formats={"pickle": {"status": "ok", "file": "Types/m.pkl", "sha256": "0" * 64,
                                                 "untrusted_types": "os.system"}}),
        dict(entry("BadFormat"), formats={"pickle](http://x)": {"status": "ok"}}),
        dict(entry("BadError"), formats={"onnx": {"status": "error", "error": "a string"}}),
        entry("KNeighborsClassifier-kd_tree"),  # a second entry claiming the same cells
        "not an object",
    ]
    good, problems = check_manifest({"estimators": honest + bad})
    assert [e["name"] for e in good] == [e["name"] for e in honest]
    assert len(problems) == len(bad)
    labels = [label for label, _ in problems]
    assert IMAGE not in labels and LINK not in labels  # a hostile name is named by its index
    reasons = dict(problems)
    assert "'..'" in reasons["Escape"] and "absolute" in reasons["Absolute"] and "sha256" in reasons["BadSha"]
    assert "outputs" in reasons["NoOutputs"] and "untrusted_types" in reasons["Types"]
    assert "twice" in reasons["KNeighborsClassifier-kd_tree"]
    # the n/a and error records of an honest dump pass
    na = dict(entry("Ridge"), formats={"onnx": {"status": "n/a", "reason": "no converter"},
                                       "skops": {"status": "error", "error": {"type": "E", "message": "m"}}})
    assert check_manifest({"estimators": [na]}) == ([na], [])
    for shape in ([], {"estimators": {}}, "x"):
        with pytest.raises(UntrustedInput):
            check_manifest(shape)


def test_with_its_folder_a_manifest_cannot_point_through_a_symlink(tmp_path):
    folder = tmp_path / "p"
    honest = entry("Ridge", folder)
    os.symlink("/etc", folder / "etc")
    sneaky = entry("Lasso", file="etc/passwd")
    good, problems = check_manifest({"estimators": [honest, sneaky]}, folder=folder)
    assert good == [honest] and problems[0][0] == "Lasso" and "leads out" in problems[0][1]
    assert check_manifest({"estimators": [sneaky]})[0] == [sneaky]  # without it only the text is checked


def test_load_manifest_refuses_a_nested_manifest_and_caches_a_good_one(tmp_path):
    path = write_text(tmp_path / "p" / "manifest.json", NESTED)
    with pytest.raises(UntrustedInput):
        load_manifest(path)
    write_json(path, {"estimators": [entry("Ridge", tmp_path / "p"), entry(IMAGE)]})
    manifest, problems = load_manifest(path)
    assert [e["name"] for e in manifest["estimators"]] == ["Ridge"] and problems[0][0] == 1
    assert load_manifest(path)[0] == manifest
    with pytest.raises(FileNotFoundError):
        load_manifest(tmp_path / "q" / "manifest.json")


# ---- text --------------------------------------------------------------------------------------------

def test_md_text_leaves_no_link_image_html_or_autolink():
    for hostile in (IMAGE, LINK, "<img src=x onerror=alert(1)>", "http://evil www.evil.com", "a|b`c`*d*_e_~~f~~"):
        text = md_text(hostile)
        assert "![" not in text and "](" not in text and "<" not in text and "://" not in text
        assert not re.search(r"(?<!\\)[|`*_~\[\]()]", text), text
    assert md_text("two\nlines\r\n# heading") == "two lines \\# heading"
    assert md_text("&amp;") == "&amp;amp;"
    assert md_text("x" * 5000, limit=10) == "x" * 9 + "\u2026"
    assert md_code("skl1.5.2-py3.11-np2-amd64") == "`skl1.5.2-py3.11-np2-amd64`"
    assert md_code("a`b" + IMAGE).count("`") == 1 and "![" not in md_code(IMAGE)


def test_term_text_shows_every_control_character_escaped():
    text = term_text(f"error: {ANSI} \u202eevil")
    assert not re.search("[\x00-\x1f\x7f-\x9f\u202e]", text)
    assert "\\x1b[2J" in text and "\\x9b" in text and "\\x0d" in text and "\\u202e" in text
    assert len(term_text("x" * 10_000)) == untrusted.TERM_LIMIT


def test_say_prints_no_escape_sequence(capsys):
    pipeline.say(f"[1/2] dump p: FAILED: dump exited 1: {ANSI}\nfake line")
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\r" not in out and out.count("\n") == 1


def test_the_html_report_is_autoescaped_and_inserts_text_only():
    env = report.environment()
    assert env.autoescape is True and env.undefined.__name__ == "StrictUndefined"
    script = (report.TEMPLATES / "report.js").read_text()
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script and "textContent" in script
    assert "| safe" not in (report.TEMPLATES / "report.html.j2").read_text()


def test_summary_md_has_no_live_image_or_link(tmp_path):
    a, b = "skl1.3.2-py3.11-np1-amd64", "skl1.5.2-py3.11-np1-amd64"
    hostile = f"{IMAGE}{LINK}<img src=x>"

    def cell(status):
        return {"schema": SCHEMA_VERSION, "key": "k", "producer": a, "consumer": b, "estimator": hostile,
                "format": "pickle", "family": "linear", "status": status, "error": f"ValueError: {LINK}"}

    def env(sklearn, dump_error=""):
        env_id = f"skl{sklearn}-py3.11-np1-amd64"
        return {"id": env_id, "sklearn": sklearn, "python": "3.11", "numpy": "1", "arch": "amd64",
                "build": {"ok": True}, "dump": {"ok": not dump_error, "error": dump_error}}

    def results(status, generated):
        return {"schema": results_file.RESULTS_SCHEMA, "matrix": "m", "generated": generated, "formats": ["pickle"],
                "environments": [env("1.3.2", f"dump exited 1: {IMAGE}"), env("1.5.2")],
                "dropped": [{"id": "x", "reason": LINK}], "producer_na": [], "known": [], "cells": [cell(status)]}

    results_file.write(tmp_path / results_file.PREVIOUS, results("identical", "2025-06-01T00:00:00+00:00"))
    results_file.write(tmp_path / results_file.NAME, results("load-error", "2025-06-02T00:00:00+00:00"))
    summary = report.render(tmp_path).summary.read_text(encoding="utf-8")
    assert "new breakages" in summary and "Dumps that failed" in summary
    assert "\\!\\[x\\]\\(http\\:\\/\\/evil/p\\.png\\)" in summary  # shown as text
    assert "![" not in summary and "](" not in summary and "<img" not in summary and "://" not in summary


# ---- the host's readers ------------------------------------------------------------------------------

def _tree(tmp_path):
    """The `two` matrix, a tree with the consumer built, and its producer's artifact folder."""
    two = matrix_mod.load(DATA / "two-envs.toml", "two")
    tree = RunTree(tmp_path / "tree")
    producer, consumer = two.envs[0].id, two.envs[1].id
    tree.save_status("build", Built(consumer, True, "img:1").to_json())
    return two, tree, producer, consumer


def test_a_hostile_manifest_fails_its_producer_only(tmp_path):
    two, tree, producer, consumer = _tree(tmp_path)
    write_text(tree.manifest(consumer), NESTED)  # the consumer is a producer too: its manifest is the attack
    folder = tree.artifacts(producer)
    write_json(tree.manifest(producer), {"estimators": [entry("Ridge", folder), entry(IMAGE, folder),
                                                        entry("Escape", file="../../../secret")]})
    assert merge.dumped_producers(two, tree) == [producer]
    merge.write_results(two, tree, [])
    results = results_file.read(tree.results_json)
    assert {c["estimator"] for c in results["cells"]} == {"Ridge"}
    envs = {e["id"]: e for e in results["environments"]}
    assert envs[consumer]["dump"]["ok"] is False and "manifest refused" in envs[consumer]["dump"]["error"]
    assert [r["estimator"] for r in envs[producer]["refused_estimators"]] == ["1", "Escape"]


def test_damaged_never_hashes_a_file_outside_the_dump(tmp_path, monkeypatch):
    _, tree, producer, _ = _tree(tmp_path)
    secret = write_text(tmp_path / "secret", "host file")
    folder = tree.artifacts(producer)
    folder.mkdir(parents=True)
    os.symlink(tmp_path, folder / "up")
    outside = [entry(name, file=file, data=secret.read_bytes(), outputs=None) for name, file in
               (("Rel", "../../../secret"), ("Abs", str(secret)), ("Link", "up/secret"))]
    write_json(tree.manifest(producer), {"estimators": [entry("Ridge", folder)] + outside})
    hashed, real = [], hashcache.sha256_file
    monkeypatch.setattr(hashcache, "SETTLE_NS", 0)
    monkeypatch.setattr(hashcache, "sha256_file", lambda path: hashed.append(path) or real(path))
    assert dumps.damaged(tree, producer) == []
    assert all(str(p).startswith(str(folder.resolve())) for p in hashed) and len(hashed) == 2
    assert dumps.damaged(tree, producer) == [] and len(hashed) == 2  # a warm check hashes nothing
    model = folder / "Ridge" / "model.pkl"
    before = model.stat()
    time.sleep(0.05)  # a clock tick later: the file's new ctime differs from the one remembered
    model.write_bytes(bytes(len(model.read_bytes())))  # same size, and the old mtime put back
    os.utime(model, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert dumps.damaged(tree, producer) == [f"{producer}/Ridge/model.pkl"]  # the ctime told
    model.write_bytes(b"truncated")
    assert dumps.damaged(tree, producer) == [f"{producer}/Ridge/model.pkl"]


def test_a_warm_damage_check_resolves_no_path_while_each_file_is_the_one_hashed(tmp_path, monkeypatch):
    _, tree, producer, _ = _tree(tmp_path)
    folder = tree.artifacts(producer)
    write_json(tree.manifest(producer), {"estimators": [entry("Ridge", folder)]})
    monkeypatch.setattr(hashcache, "SETTLE_NS", 0)
    assert dumps.damaged(tree, producer) == []
    resolved, real = [], dumps.confined
    monkeypatch.setattr(dumps, "confined", lambda folder, rel: resolved.append(rel) or real(folder, rel))
    assert dumps.damaged(tree, producer) == [] and resolved == []
    model = folder / "Ridge" / "model.pkl"
    data = model.read_bytes()
    model.unlink()
    model.write_bytes(data)  # the same bytes in another file: resolved and hashed again
    assert dumps.damaged(tree, producer) == [] and resolved == ["Ridge/model.pkl"]
    hashes = hashcache.HashCache(folder, tree.hashes(producer))
    assert hashes.remembered("Ridge/model.pkl") is not None
    (tmp_path / "copy.pkl").write_bytes(data)
    model.unlink()
    os.symlink(tmp_path / "copy.pkl", model)  # a link is never remembered, whatever it leads to
    assert hashes.remembered("Ridge/model.pkl") is None and hashes.remembered("Ridge/other.pkl") is None


def test_a_hostile_status_file_is_a_failure_not_a_crash(tmp_path):
    _, tree, producer, _ = _tree(tmp_path)
    write_text(tree.status("dump", producer), NESTED)
    status = tree.load_status("dump", producer)
    assert status["ok"] is False and "status file refused" in status["error"]
    write_text(tree.dump_stamp(producer), NESTED)
    assert tree.dump_is_current(producer, {}) is False


def test_combine_copies_no_symlink_and_skips_hostile_lines(tmp_path):
    secret = write_text(tmp_path / "secret", "host file")
    source, target = tmp_path / "other" / "two", tmp_path / "mine" / "two"
    write_text(source / "status" / "dump-p.json", '{"ok": true}')
    os.symlink(secret, source / "status" / "build-p.json")
    os.symlink(tmp_path, source / "artifacts")
    good = {"schema": SCHEMA_VERSION, "key": "k1", "status": "identical"}
    write_text(source / "cells" / "c.jsonl", NESTED + "\n" + "[1]\n" + json.dumps(good) + "\n")
    (target / "cells").mkdir(parents=True)
    os.symlink(secret, target / "cells" / "d.jsonl")  # planted in this machine's tree
    write_text(source / "cells" / "d.jsonl", json.dumps(good) + "\n")
    skipped = []
    assert combine.combine(target, [source], skipped) == (1, 1)
    assert (target / "status" / "dump-p.json").read_text() == '{"ok": true}'
    assert not (target / "status" / "build-p.json").exists() and not (target / "artifacts").exists()
    assert [json.loads(line)["key"] for line in (target / "cells" / "c.jsonl").read_text().splitlines()] == ["k1"]
    assert secret.read_text() == "host file"  # not appended to through the planted symlink
    assert len(skipped) == 3 and sum("symbolic link" in line for line in skipped) == 2
    assert "'cells/d.jsonl' leads out" in skipped[-1]


def test_trust_derive_keeps_the_earlier_policy_and_never_trusts_a_callable(tmp_path):
    from harness.stages import trust

    earlier = {"preload": ["sklearn.old"], "skops_trusted": ["sklearn.Old", "numpy.mean"],
               "refused_callables": ["numpy.mean"]}
    empty = tmp_path / "tree"
    (empty / "artifacts").mkdir(parents=True)
    kept = trust.derive([empty], earlier)
    assert kept["preload"] == ["sklearn.old"] and kept["skops_trusted"] == ["sklearn.Old"]
    assert kept["refused_callables"] == ["numpy.mean"]
    assert trust.derive([empty])["skops_trusted"] == []
    assert trust.main(["derive", "--keep"]) == 64  # no tree: usage

"""What a model file needs, read on the host without running it: its format from the content,
the modules and classes its opcodes or skops schema name, the scikit-learn version it records,
the skops types outside the trust policy, and an ONNX model's opsets and domains."""

import os
import re
import zipfile

from ..stages import trust
from ..inside.load import onnx_check, scan
from ..core.untrusted import UntrustedInput, loads_bounded

# joblib recognises its compressed files by these first bytes (joblib.compressor).
COMPRESSED = ((b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\xfd7zXZ", "xz"), (b"\x5d\x00\x00", "lzma"),
              (b"\x04\x22\x4d\x18", "lz4"), (b"\x78", "zlib"))
MAX_LISTED = 200


class NotAModel(ValueError):
    """The file is in no format the harness loads; the message says what it looks like."""


def _head(path, n=16):
    with open(path, "rb") as fh:
        return fh.read(n)


def detect(path):
    """The harness format of a file from its content (never its name); NotAModel otherwise."""
    head = _head(path)
    if not head:
        raise NotAModel("the file is empty")
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as zf:
                if "schema.json" in zf.namelist():
                    return "skops"
        except (zipfile.BadZipFile, OSError):
            pass
        raise NotAModel("a zip file without schema.json: not a skops file")
    if head[:1] == b"\x80" and head[1:2] and head[1] <= 5:
        info = scan.inspect_pickle(path)
        if any(m.startswith("joblib") for m in info["modules"]):
            return "joblib"
        if any(m.startswith("cloudpickle") for m in info["modules"]):
            return "cloudpickle"
        return "pickle-p5" if head[1] == 5 else "pickle"
    for magic, _ in COMPRESSED:
        if head.startswith(magic):
            return "joblib-z"
    if head[:1] == b"\x08":  # ModelProto field 1 (ir_version), a varint
        data, problems = onnx_check.read_model(path)
        if data is not None and _onnx_summary(data)["graph"]:
            return "onnx"
    if head[:1] in (b"(", b"c", b"]", b"}"):  # protocol 0/1 pickles open with MARK, GLOBAL, ...
        return "pickle"
    raise NotAModel("not a pickle, joblib, cloudpickle, skops or ONNX file (first bytes %r)" % head[:8])


def _varint(buf, pos):
    value = shift = 0
    while pos < len(buf) and shift < 64:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise ValueError("truncated varint")


def _fields(buf):
    """(field number, wire type, value) of one protobuf message, top level only."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + size], pos + size
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ValueError("wire type %d" % wire)
        yield number, wire, value


def _text(raw):
    return bytes(raw[:200]).decode("utf-8", "replace")


def _onnx_summary(data):
    """ir_version, producer, opsets {domain: version} and the domains and operators of the graph."""
    out = {"ir_version": None, "producer": "", "opsets": {}, "domains": set(), "operators": set(), "graph": False}
    try:
        for number, wire, value in _fields(data):
            if number == 1 and wire == 0:
                out["ir_version"] = value
            elif number in (2, 3) and wire == 2:
                out["producer"] = (out["producer"] + " " + _text(value)).strip()
            elif number == 8 and wire == 2:
                fields = {n: v for n, _, v in _fields(value)}
                out["opsets"][_text(fields.get(1, b""))] = fields.get(2)
            elif number == 7 and wire == 2:
                out["graph"] = True
                for n, w, node in _fields(value):
                    if n == 1 and w == 2:
                        fields = {k: v for k, _, v in _fields(node)}
                        out["operators"].add(_text(fields.get(4, b"")))
                        out["domains"].add(_text(fields.get(7, b"")))
    except (ValueError, IndexError):
        out["graph"] = False
    return out


_SKOPS_PAIR = re.compile(r'"__class__"\s*:\s*"([A-Za-z0-9_.]{1,200})"\s*,\s*"__module__"\s*:\s*"([A-Za-z0-9_.]{1,200})"')


def _skops_version(schema):
    """The scikit-learn version in a skops schema: the top object's _sklearn_version."""
    try:
        value = schema["content"]["content"]["_sklearn_version"]
    except (KeyError, TypeError):
        return None
    if isinstance(value, dict):
        value = value.get("content")
    if isinstance(value, str):
        return value.strip('"')[:40]
    return None


def inspect(path):
    """What the file needs, as a JSON-ready dict; NotAModel when it is no model file."""
    path = os.fspath(path)
    fmt = detect(path)
    out = {"file": os.path.basename(path), "size": os.path.getsize(path), "format": fmt,
           "sklearn_versions": [], "modules": [], "classes": [], "untrusted": [], "notes": []}
    if fmt in scan.PICKLE_FORMATS:
        info = scan.inspect_pickle(path)
        out["modules"] = sorted(info["modules"])[:MAX_LISTED]
        out["classes"] = sorted(info["globals"])[:MAX_LISTED]
        out["sklearn_versions"] = sorted(info["versions"])
        if not info["complete"]:
            out["notes"].append("the opcode walk stopped early (joblib array bytes, a cap or a truncated file): "
                                "modules were also searched in the bytes")
        outside = sorted(c for c in info["globals"] if c.split(".")[0] not in ("sklearn", "numpy", "scipy", "joblib",
                                                                               "builtins", "copyreg", "collections",
                                                                               "_codecs"))
        out["untrusted"] = outside[:MAX_LISTED]
    elif fmt == "skops":
        raw = scan.skops_schema(path)
        if raw is None:
            out["notes"].append("schema.json could not be read within the scanner's caps")
        else:
            text = raw.decode("utf-8", "replace")
            classes = sorted({f"{m}.{c}" for c, m in _SKOPS_PAIR.findall(text)})
            out["classes"] = classes[:MAX_LISTED]
            out["modules"] = sorted({c.rpartition(".")[0] for c in classes})[:MAX_LISTED]
            trusted = set(trust.policy()["skops_trusted"])
            out["untrusted"] = [c for c in classes if c not in trusted and not c.startswith("builtins.")][:MAX_LISTED]
            try:
                schema = loads_bounded(text, what="schema.json")
                version = _skops_version(schema)
                out["sklearn_versions"] = [version] if version else []
                out["skops_protocol"] = schema.get("protocol") if isinstance(schema, dict) else None
                out["skops_version"] = schema.get("_skops_version") if isinstance(schema, dict) else None
            except (UntrustedInput, ValueError):
                out["notes"].append("schema.json is not readable JSON")
    elif fmt == "onnx":
        data, problems = onnx_check.read_model(path)
        summary = _onnx_summary(data or b"")
        out.update(onnx={"ir_version": summary["ir_version"], "producer": summary["producer"],
                         "opsets": summary["opsets"], "domains": sorted(summary["domains"]),
                         "operators": sorted(summary["operators"])[:MAX_LISTED]},
                   untrusted=problems[:MAX_LISTED])
    return out


def lines(info):
    """The inspection as terminal lines."""
    out = [f"{info['file']}: {info['format']}, {info['size']:,} bytes"]
    versions = ", ".join(info["sklearn_versions"]) or "none recorded"
    out.append(f"  scikit-learn version recorded: {versions}")
    if info.get("skops_version"):
        out.append(f"  skops {info['skops_version']}, protocol {info.get('skops_protocol')}")
    if info.get("onnx"):
        onnx = info["onnx"]
        out.append(f"  ONNX ir_version {onnx['ir_version']}, producer {onnx['producer'] or '?'}, opsets "
                   + ", ".join(f"{d or 'ai.onnx'}={v}" for d, v in sorted(onnx["opsets"].items())))
        out.append(f"  domains: {', '.join(d or 'ai.onnx' for d in onnx['domains'])}; "
                   f"{len(onnx['operators'])} operator types")
    if info["modules"]:
        out.append(f"  modules ({len(info['modules'])}): {', '.join(info['modules'][:20])}"
                   + (" ..." if len(info["modules"]) > 20 else ""))
    if info["classes"]:
        out.append(f"  classes ({len(info['classes'])}): {', '.join(info['classes'][:20])}"
                   + (" ..." if len(info["classes"]) > 20 else ""))
    label = "problems" if info["format"] == "onnx" else "outside the trust policy"
    if info["untrusted"]:
        out.append(f"  {label} ({len(info['untrusted'])}): {', '.join(info['untrusted'][:20])}")
    for note in info["notes"]:
        out.append(f"  note: {note}")
    return out

"""Reading what producers and other machines wrote: bounded JSON, confined paths, checked manifests, safe text."""

import functools
import json
import os
import re
import stat
from array import array
from itertools import accumulate
from pathlib import Path

MANIFEST_MAX = 64 << 20   # a real manifest of the whole catalogue is about 1 MiB
STATUS_MAX = 16 << 20     # build/dump status and stamp files: a log tail at most
RESULTS_MAX = 1 << 30     # results of a large matrix, inflated; they are parsed whole anyway
LINE_MAX = 16 << 20       # one result line (errors carry tracebacks)
MAX_DEPTH = 64            # real records nest about 6 deep
NAME_MAX = 200            # estimator names of the catalogue are at most ~40 characters
TEXT_MAX = 1000           # class, task and family strings
TERM_LIMIT = 2000         # characters of untrusted text per terminal line

# Catalogue names are like "KNeighborsClassifier-kd_tree" and "Pipeline-scaler-logistic": a name also
# ends up in globs (--only), shell commands and folder names, so nothing beyond this set is honest.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
_FORMAT = re.compile(r"[a-z0-9][a-z0-9._+-]{0,39}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class UntrustedInput(ValueError):
    """A file or record from a producer or another machine that the host refuses to use."""


# ---- bounded JSON ------------------------------------------------------------------------------

# Openers count +1 and closers -1 (as signed bytes): the running sum is the nesting depth.
_SQUARE = bytes.maketrans(b"{}", b"[]")
_NOT_STRUCTURE = bytes(c for c in range(256) if c not in b'[]{}"')
_STEP = bytes.maketrans(b"[]", b"\x01\xff")


def json_depth(text, limit=None):
    """The deepest nesting of brackets outside JSON strings, found without parsing (so without recursion).

    limit: stop as soon as the depth is known to exceed it (the value returned is then only more than limit).
    """
    # Everything runs in C (replace, translate, split): 50 MiB of results take a fraction of a second.
    # Escaped backslashes go first, then escaped quotes (pairing left to right as JSON does), so every
    # quote left toggles in and out of a string. Only quotes and brackets are kept; two adjacent quotes
    # are dropped (an empty string, or two strings with nothing between them: inside stays inside),
    # and split('"')[::2] keeps what lies outside the strings that are left.
    data = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    skeleton = data.translate(_SQUARE, _NOT_STRUCTURE).replace(b'""', b"")
    brackets = b"".join(skeleton.split(b'"')[::2])
    # Each pass of removing innermost pairs takes exactly one level off a balanced nesting (and at
    # most one off any other); it shrinks wide records fast, then the running sum measures the rest.
    passes = 0
    while brackets:
        fewer = brackets.replace(b"[]", b"")
        if len(fewer) == len(brackets):
            break
        passes += 1
        little = len(fewer) * 4 > len(brackets) * 3  # a deep, narrow nesting: leave it to the sum
        brackets = fewer
        if little:
            break
    steps = array("b", brackets.translate(_STEP))
    level = peak = 0
    for start in range(0, len(steps), 1 << 20):  # by chunks, so a nested attack stops in its first one
        chunk = steps[start:start + (1 << 20)]
        peak = max(peak, max(accumulate(chunk, initial=level)))
        level += sum(chunk)
        if limit is not None and passes + peak > limit:
            break
    return passes + peak


def loads_bounded(data, max_depth=MAX_DEPTH, what="JSON"):
    """json.loads of text (or UTF-8 bytes) nesting at most max_depth deep; UntrustedInput otherwise or when no JSON."""
    depth = json_depth(data, max_depth)  # before json.loads, whose recursion a deep nesting would exhaust
    if depth > max_depth:
        raise UntrustedInput(f"{what} nests more than the {max_depth} levels allowed")
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UntrustedInput(f"{what} is not UTF-8 (byte {exc.start})") from None
    try:
        return json.loads(data)
    except RecursionError:  # cannot happen after the scan; kept so that no input ever stops a stage
        raise UntrustedInput(f"{what} nests too deep to parse") from None
    except ValueError as exc:
        raise UntrustedInput(f"{what} is not valid JSON: {exc}") from None


def read_json_bounded(path, max_bytes, max_depth=MAX_DEPTH, nofollow=False):
    """The parsed JSON of a regular file of at most max_bytes UTF-8 bytes nesting at most max_depth deep.

    UntrustedInput (one line) otherwise; FileNotFoundError passes through. nofollow: refuse a symlink.
    """
    return loads_bounded(read_bytes_bounded(path, max_bytes, nofollow), max_depth, what=str(path))


def read_bytes_bounded(path, max_bytes, nofollow=False):
    """The bytes of a regular file of at most max_bytes; UntrustedInput otherwise (a FIFO, a
    device, a link under nofollow), FileNotFoundError passes through."""
    flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | (os.O_NOFOLLOW if nofollow else 0)
    try:
        fd = os.open(path, flags)  # O_NONBLOCK: a FIFO planted under the name must not hang the host
    except FileNotFoundError:
        raise  # absent is no attack: callers tell "not dumped yet" from "refused"
    except OSError as exc:
        reason = "is a symbolic link" if nofollow and os.path.islink(path) else f"cannot be opened: {exc.strerror}"
        raise UntrustedInput(f"{path} {reason}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise UntrustedInput(f"{path} is not a regular file")
        if info.st_size > max_bytes:  # sparse or not, refused before a byte is read
            raise UntrustedInput(f"{path} is {info.st_size:,} bytes, more than the {max_bytes:,} allowed")
        # Read what fstat saw and one byte more (a buffer of max_bytes would be allocated whole);
        # the file may have grown since, and then it is read on up to the bound.
        data = handle.read(info.st_size + 1)
        if len(data) > info.st_size:
            data += handle.read(max_bytes + 1 - len(data))
    if len(data) > max_bytes:
        raise UntrustedInput(f"{path} is more than the {max_bytes:,} bytes allowed")
    return data


# ---- paths -------------------------------------------------------------------------------------

def _check_relative(rel):
    """UntrustedInput unless rel is a plain relative path that cannot climb out of its folder."""
    if not isinstance(rel, str):
        raise UntrustedInput(f"path {rel!r} is not a string")
    if not rel or len(rel) > 4096:
        raise UntrustedInput("path is empty" if not rel else "path is longer than 4096 characters")
    if "\0" in rel:
        raise UntrustedInput(f"path {rel!r} contains NUL")
    if "\\" in rel:  # no meaning on POSIX, but a Windows reader would climb with it
        raise UntrustedInput(f"path {rel!r} contains a backslash")
    if rel.startswith("/"):
        raise UntrustedInput(f"path {rel!r} is absolute")
    parts = rel.split("/")
    if ".." in parts:
        raise UntrustedInput(f"path {rel!r} has a '..' component")
    if all(part in ("", ".") for part in parts):
        raise UntrustedInput(f"path {rel!r} names no file")


class _Resolved(str):
    """A folder's realpath taken once for all the paths of one manifest check."""


def _realpath_under(root, rel):
    """os.path.realpath(root/rel) for a root that is a real path already: rel's own components are
    looked at (no link among them: the joined path is real), realpath takes over at the first link
    or missing component (a manifest names 780 files: resolving the root for each was most of the check)."""
    path = root
    for part in rel.split("/"):
        if part in ("", "."):
            continue
        path = os.path.join(path, part)
        try:
            if not stat.S_ISLNK(os.lstat(path).st_mode):
                continue
        except OSError:
            pass
        return os.path.realpath(os.path.join(root, rel))
    return path


def confined(folder, rel):
    """The path of rel inside folder, symlinks resolved; UntrustedInput when it would lead elsewhere.

    The target need not exist; when it does it must be a regular file, not a symlink.
    """
    _check_relative(rel)
    root = folder if isinstance(folder, _Resolved) else os.path.realpath(folder)
    joined = os.path.join(root, rel)
    real = _realpath_under(root, rel)  # follows every symlink on the way, in the folder or not
    if not real.startswith(root.rstrip(os.sep) + os.sep):  # both normalised: a prefix is a parent
        raise UntrustedInput(f"path {rel!r} leads out of {folder}")
    try:
        info = os.lstat(joined)
    except FileNotFoundError:
        return Path(real)
    except OSError as exc:
        raise UntrustedInput(f"path {rel!r} cannot be examined: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a symbolic link" if stat.S_ISLNK(info.st_mode) else "not a regular file"
        raise UntrustedInput(f"path {rel!r} is {kind}")
    return Path(real)


# ---- manifests ---------------------------------------------------------------------------------

def _string(value, what, limit=TEXT_MAX, optional=True):
    """Refuse a value that is not a bounded string (None allowed when optional)."""
    if value is None and optional:
        return
    if not isinstance(value, str):
        raise UntrustedInput(f"{what} is not a string")
    if len(value) > limit:
        raise UntrustedInput(f"{what} is longer than {limit} characters")


def _file_record(rec, what, folder, sha_required=True):
    """Refuse a {file, sha256} record whose path or digest the host could not use safely."""
    if not isinstance(rec, dict):
        raise UntrustedInput(f"{what} is not an object")
    try:
        if folder is None:
            _check_relative(rec.get("file"))
        else:
            confined(folder, rec.get("file"))
    except UntrustedInput as exc:
        raise UntrustedInput(f"{what} file: {exc}") from None
    digest = rec.get("sha256")
    if (digest is not None or sha_required) and not (isinstance(digest, str) and _SHA256.fullmatch(digest)):
        raise UntrustedInput(f"{what} sha256 is not 64 lowercase hex digits")


def _check_format(fmt, rec, folder):
    """Refuse one formats[fmt] record of the shapes the host reads."""
    if not isinstance(fmt, str) or not _FORMAT.fullmatch(fmt):
        raise UntrustedInput(f"format name {str(fmt)[:60]!r} is not a plain format name")
    if not isinstance(rec, dict):
        raise UntrustedInput(f"format {fmt} is not an object")
    _string(rec.get("status"), f"format {fmt} status", optional=False)
    _string(rec.get("reason"), f"format {fmt} reason", limit=1 << 20)
    error = rec.get("error")
    if error is not None and not isinstance(error, dict):
        raise UntrustedInput(f"format {fmt} error is not an object")
    _string((error or {}).get("message"), f"format {fmt} error message", limit=1 << 20)
    if rec["status"] != "ok":
        return False
    _file_record(rec, f"format {fmt}", folder)
    kinds = rec.get("untrusted_types")
    if kinds is not None and not (isinstance(kinds, list) and len(kinds) <= 10000
                                  and all(isinstance(k, str) and len(k) <= TEXT_MAX for k in kinds)):
        raise UntrustedInput(f"format {fmt} untrusted_types is not a list of strings")
    return True


def _check_estimator(est, folder):
    """The estimator's name, or UntrustedInput saying what about it the host cannot use."""
    if not isinstance(est, dict):
        raise UntrustedInput("the entry is not an object")
    name = est.get("name")
    if not isinstance(name, str) or len(name) > NAME_MAX or not _NAME.fullmatch(name):
        raise UntrustedInput(f"name is not a plain name of at most {NAME_MAX} letters, digits and ._+-")
    for key in ("class", "task", "family", "status"):
        _string(est.get(key), key)
    formats = est.get("formats", {})
    if not isinstance(formats, dict):
        raise UntrustedInput("formats is not an object")
    written = [_check_format(fmt, rec, folder) for fmt, rec in formats.items()]
    if any(written) or est.get("outputs") is not None:  # every written artifact is compared with them
        _file_record(est.get("outputs"), "outputs", folder, sha_required=False)
    return name


def check_manifest(manifest, folder=None):
    """(estimators the host can use, [(name or index, reason)] for the others); UntrustedInput when unusable.

    folder: the producer's artifact folder; given, every file must also resolve inside it.
    """
    if not isinstance(manifest, dict):
        raise UntrustedInput("the manifest is not a JSON object")
    estimators = manifest.get("estimators", [])
    if not isinstance(estimators, list):
        raise UntrustedInput("the manifest's estimators is not a list")
    good, problems, seen = [], [], set()
    folder = None if folder is None else _Resolved(os.path.realpath(folder))
    for index, est in enumerate(estimators):
        try:
            name = _check_estimator(est, folder)
        except UntrustedInput as exc:
            # A valid name identifies the entry; any other one is not echoed (it may be the attack).
            label = est.get("name") if isinstance(est, dict) and isinstance(est.get("name"), str) \
                and _NAME.fullmatch(est["name"]) and len(est["name"]) <= NAME_MAX else index
            problems.append((label, str(exc)))
            continue
        if name in seen:  # two entries would claim the same cells
            problems.append((name, "listed twice; the first entry is kept"))
            continue
        seen.add(name)
        good.append(est)
    return good, problems


def load_manifest(path):
    """(the manifest with only its usable estimators, ((name or index, reason), ...)) of a producer.

    UntrustedInput when the file as a whole is unusable; FileNotFoundError when there is none.
    Parsed once per version of the file: every consumer reads every producer's manifest.
    """
    info = os.stat(path)
    manifest, problems = _load_manifest(str(path), info.st_mtime_ns, info.st_size)
    return dict(manifest), problems  # a copy: callers never change the cached one


@functools.lru_cache(maxsize=64)
def _load_manifest(path, stamp, size):
    """The checked manifest at one modification time and size."""
    data = read_json_bounded(path, MANIFEST_MAX, nofollow=True)  # a symlinked manifest could name any host file
    good, problems = check_manifest(data, folder=os.path.dirname(path))
    return dict(data, estimators=good), tuple(problems)


def read_status(path, max_bytes=STATUS_MAX):
    """A small JSON object (status, stamp) that may come from another machine; None when absent.

    UntrustedInput when it is too big, too deep, no JSON or no object.
    """
    try:
        data = read_json_bounded(path, max_bytes)
    except FileNotFoundError:
        return None
    if not isinstance(data, dict):
        raise UntrustedInput(f"{path} is not a JSON object")
    return data


# ---- text --------------------------------------------------------------------------------------

# C0, DEL, C1, and the invisible characters that reorder or hide text (bidi overrides, zero widths,
# line separators): none belongs in a one-line message.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")
# Backslash-escapable ASCII punctuation that starts Markdown (or GitHub's math and autolinks: ':' and '/'
# of :// stop http://, '.' stops www., '@' stops mail addresses); <, > and & become entities so no HTML
# or entity survives.
_MD_TABLE = {ord(c): "\\" + c for c in "\\`*_{}[]()#+-.!|~:$=@"}
_MD_TABLE.update({ord("<"): "&lt;", ord(">"): "&gt;", ord("&"): "&amp;"})
_PLAIN_CODE = re.compile(r"[A-Za-z0-9._+=/:@-]{1,200}")


def _cut(text, limit):
    return text if limit is None or len(text) <= limit else text[:limit - 1] + "\u2026"


def md_text(s, limit=TEXT_MAX):
    """Untrusted text as inert Markdown on one line: no link, image, emphasis, heading, HTML or table cell break."""
    text = _cut(" ".join(str(s).split()), limit)  # split() also takes \r, \x1c-\x1f, \x85 and U+2028
    return _CONTROL.sub("?", text).translate(_MD_TABLE).replace("\\://", "\\:\\/\\/")


def md_code(s, limit=NAME_MAX):
    """An identifier as a Markdown code span when it is plain (nothing in a code span is live), else md_text."""
    text = str(s)
    return f"`{text}`" if _PLAIN_CODE.fullmatch(text) and len(text) <= limit else md_text(text, limit)


def _escape_control(found):
    code = ord(found.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def term_text(s, limit=TERM_LIMIT):
    """Untrusted text safe to print: every control character (ESC, CR, newline too) shown as \\xNN, length bounded."""
    return _cut(_CONTROL.sub(_escape_control, str(s)), limit)

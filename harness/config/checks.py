"""Type and value checks for matrix.toml, each failing with file:line, key and a fix."""

import difflib
import fnmatch
import math
import re

from ..core.errors import ConfigError
from ..inside.schema import FORMATS, Status
from .values import KNOWN_KEYS, Known, Tolerance

# Outcomes a known issue may expect: the failing ones, never a passing one or n/a.
FAILING = Status.ORDER[Status.ORDER.index(Status.UNCOMPARED):-1]

HEADER_RE = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
URL_RE = re.compile(r"^https?://\S+$")
# Other spellings of a value that difflib cannot relate to ours (uname -m vs Docker/Debian names).
ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64"}


def suggest(word, choices):
    """'; did you mean X?' when a close match exists."""
    if ALIASES.get(str(word)) in choices:
        return f"; did you mean {ALIASES[str(word)]!r}?"
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def dotted(keypath):
    """('matrix', 'quick', 'arch') -> 'matrix.quick.arch'; list indexes as [i]."""
    out = ""
    for part in keypath:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


class Checker:
    """Validates pieces of a parsed matrix file and raises ConfigError naming file, line and key."""

    def __init__(self, text, where):
        self.lines = text.splitlines()
        self.where = where

    def fail(self, keypath, message):
        """Raise the one-line error for a key."""
        line = self.line_of(keypath)
        place = f"{self.where}:{line}" if line else self.where
        raise ConfigError(f"{place}: {dotted(keypath)}: {message}")

    def line_of(self, keypath):
        """Best-effort line number of a key (tomllib keeps no positions)."""
        names = [p for p in keypath if not isinstance(p, int)]
        index = next((p for p in keypath if isinstance(p, int)), None)
        for cut in range(len(names), 0, -1):
            table, key = ".".join(names[: cut - 1]), names[cut - 1]
            line = self._find(table, key, index)
            if line:
                return line
        return None

    def _find(self, table, key, index):
        """Line of `key =` inside [table], or of the header [table.key]; index picks the
        index-th [[table]] block (or the index-th [[table.key]] header)."""
        current, seen = "", {}
        key_re = re.compile(r'^\s*"?' + re.escape(key) + r'"?\s*=')
        full = f"{table}.{key}" if table else key
        for number, text in enumerate(self.lines, 1):
            header = HEADER_RE.match(text)
            if header:
                current = header.group(2).replace('"', "").replace(" ", "")
                if header.group(1) == "[[":
                    seen[current] = seen.get(current, -1) + 1
                if current == full and (index is None or seen.get(full) == index):
                    return number
                continue
            in_table = current == table and (index is None or not table or seen.get(table) == index)
            if in_table and key_re.match(text):
                return number
        return None

    def keys(self, table, allowed, keypath):
        """Refuse keys outside allowed, suggesting the closest."""
        for key in table:
            if key not in allowed:
                self.fail(keypath + (key,), f"unknown key{suggest(key, allowed)} (allowed: {', '.join(allowed)})")

    def table(self, value, keypath, required=False):
        """A TOML table."""
        if value is None and required:
            self.fail(keypath, "missing table")
        if not isinstance(value, dict):
            self.fail(keypath, f"expected a table, got {type(value).__name__}")
        return value

    def string(self, value, keypath):
        """A non-empty string."""
        if not isinstance(value, str) or not value.strip():
            self.fail(keypath, f"expected a non-empty string, got {value!r}")
        return value

    def str_list(self, value, keypath, choices=None, pattern=None, what=None, allow_empty=False):
        """A list of distinct strings, optionally from a closed set or matching a pattern."""
        if isinstance(value, str):
            self.fail(keypath, f"expected a list of strings; write [{value!r}]")
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(keypath, f"expected a list of strings, got {value!r}")
        if not value and not allow_empty:
            self.fail(keypath, "must not be empty")
        for item in value:
            if choices is not None and item not in choices:
                self.fail(keypath, f"unknown value {item!r}{suggest(item, choices)} (allowed: {', '.join(choices)})")
            if pattern is not None and not pattern.match(item):
                self.fail(keypath, f"bad value {item!r}: expected {what}")
        dupes = sorted({v for v in value if value.count(v) > 1})
        if dupes:
            self.fail(keypath, f"{dupes[0]!r} is listed twice")
        return tuple(value)

    def versions(self, table, keypath, key, known, pattern=None):
        """A required axis of versions that the wheel table knows."""
        if key not in table:
            self.fail(keypath + (key,), f"missing axis {key!r}")
        values = self.str_list(table[key], keypath + (key,))
        for value in values:
            if pattern is not None and not pattern.match(value):
                self.fail(keypath + (key,), f"bad version {value!r}: expected major.minor such as '3.11'")
            if value not in known:
                self.fail(keypath + (key,), f"unknown {key} version {value!r}{suggest(value, known)} "
                          f"(known to harness/data/wheel-cells.json: {', '.join(known)})")
        return values

    def formats(self, value, keypath):
        """A list of persistence formats."""
        return self.str_list(value, keypath, choices=FORMATS)

    def estimators(self, value, keypath, default_catalogue="all"):
        """The [estimators] include/exclude globs and which catalogue: "all" (every class of
        all_estimators()) or "hand" (the hand-written entries only)."""
        value = self.table(value, keypath)
        self.keys(value, ("include", "exclude", "catalogue"), keypath)
        include = self.str_list(value.get("include", ["*"]), keypath + ("include",))
        exclude = self.str_list(value.get("exclude", []), keypath + ("exclude",), allow_empty=True)
        catalogue = value.get("catalogue", default_catalogue)
        if catalogue not in ("all", "hand"):
            self.fail(keypath + ("catalogue",), f"expected \"all\" or \"hand\", got {catalogue!r}{suggest(catalogue, ('all', 'hand'))}")
        return include, exclude, catalogue

    def number(self, value, keypath):
        """A finite, non-negative float."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(keypath, f"expected a number, got {value!r}")
        if not math.isfinite(value) or value < 0:
            self.fail(keypath, f"must be a finite number >= 0, got {value!r}")
        return float(value)

    def tolerances(self, value, keypath):
        """[tolerances] rtol/atol plus per-format sub-tables."""
        value = self.table(value, keypath)
        self.keys(value, ("rtol", "atol") + FORMATS, keypath)
        default = Tolerance(**{k: self.number(value[k], keypath + (k,)) for k in ("rtol", "atol") if k in value})
        per_format = []
        for fmt in FORMATS:
            if fmt in value:
                sub = self.table(value[fmt], keypath + (fmt,))
                self.keys(sub, ("rtol", "atol"), keypath + (fmt,))
                given = {k: self.number(sub[k], keypath + (fmt, k)) for k in ("rtol", "atol") if k in sub}
                per_format.append((fmt, Tolerance(**{**default.__dict__, **given})))
        return default, tuple(per_format)

    def known(self, value, keypath):
        """[[known]] entries: globs, the expected failing statuses (and error pattern), a reason
        and a link."""

        if not isinstance(value, list):
            self.fail(keypath, "expected [[known]] entries (an array of tables)")
        entries = []
        for index, entry in enumerate(value):
            where = keypath + (index,)
            entry = self.table(entry, where)
            self.keys(entry, KNOWN_KEYS, where)
            for key in ("reason", "link"):
                if key not in entry:
                    self.fail(where + (key,), f"missing {key!r}: every known issue says why and links to evidence")
            if "status" not in entry:
                self.fail(where + ("status",), "missing 'status': every known issue says which outcome it "
                          f"expects (one or more of {', '.join(FAILING)})")
            statuses = entry["status"] if isinstance(entry["status"], list) else [entry["status"]]
            status = self.str_list(statuses, where + ("status",), choices=FAILING)
            error = entry.get("error", "")
            if error:
                self.string(error, where + ("error",))
                try:
                    re.compile(error)
                except re.error as exc:
                    self.fail(where + ("error",), f"not a regular expression: {exc}")
            reason = self.string(entry["reason"], where + ("reason",))
            link = self.string(entry["link"], where + ("link",))
            if not URL_RE.match(link):
                self.fail(where + ("link",), f"expected an http(s) URL, got {link!r}")
            globs = {k: self.string(entry.get(k, "*"), where + (k,)) for k in ("producer", "consumer", "format", "estimator")}
            fmt = globs["format"]
            if not any(fnmatch.fnmatchcase(f, fmt) for f in FORMATS):
                self.fail(where + ("format",), f"pattern {fmt!r} matches no format{suggest(fmt, FORMATS)}")
            entries.append(Known(reason=reason, link=link, status=status, error=error, **globs))
        return tuple(entries)

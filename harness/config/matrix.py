"""matrix.toml: parsed and validated by one function into frozen dataclasses."""

import dataclasses
import fnmatch
import itertools
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from . import debian, pins
from .env_ids import format_id
from ..core.errors import ConfigError
from .checks import Checker, suggest as _suggest
from .values import Known, Tolerance  # noqa: F401 - part of this module's API
from ..inside.schema import FORMATS

TOP_KEYS = ("formats", "base", "estimators", "tolerances", "known", "matrix", "environment")
ENVIRONMENT_KEYS = ("name", "image", "requirements", "wheel", "debian", "scikit-learn", "python", "numpy", "arch",
                    "matrices")
# Architectures an [[environment]] may name: the wheel table's, plus big-endian s390x, for which
# PyPI has no scikit-learn wheels (Debian's packages have it).
BROUGHT_ARCHES = pins.ARCHES + ("s390x",)
SKLEARN_RE = re.compile(r"^\d+\.\d+(\.\d+)?((rc|a|b)\d+|\.dev\d+|\.post\d+)?$")
NAME_RE = re.compile(r"^[a-z0-9]{1,24}$")
MATRIX_KEYS = ("scikit-learn", "python", "numpy", "arch", "include", "exclude", "formats", "estimators")
ESTIMATOR_KEYS = ("include", "exclude", "catalogue")
TOLERANCE_KEYS = ("rtol", "atol")
DEFAULT_BASE = "python:{python}-slim"
NUMPY_RE = re.compile(r"^(default|1|2|\d+\.\d+\.\d+)$")
PYTHON_RE = re.compile(r"^3\.\d+$")


@dataclass(frozen=True)
class Env:
    """One environment: a scikit-learn release on one Python, numpy and architecture."""

    sklearn: str
    python: str
    numpy: str  # "1", "2" or an exact pin: what the id shows
    arch: str
    numpy_pin: str
    scipy_pin: str
    image: str = ""   # an existing local image (a team's serving image), used as it is
    label: str = ""   # where the stack came from, in the id, when not the wheel table: img<name>, ...
    requirements: tuple = ()  # pip requirements that replace the table's pins (a file's lines, a wheel)
    pre: bool = False  # whether pip may pick pre-releases (a 1.10.0rc1)
    debian: str = ""  # a Debian suite whose own packages are the stack (python3-sklearn), e.g. bookworm

    @property
    def id(self):
        """The identifier used everywhere: skl1.3.2-py3.11-np1-amd64 (skl1.4.2-py3.11-imgserving-amd64
        for an image brought by the user)."""
        return format_id(self.sklearn, self.python, self.label or "np" + self.numpy, self.arch)


@dataclass(frozen=True)
class Dropped:
    """A combination the axes ask for that cannot be installed, and why."""

    id: str
    reason: str


@dataclass(frozen=True)
class Matrix:
    """One named matrix of matrix.toml, ready to run."""

    name: str
    path: str
    envs: tuple
    dropped: tuple
    formats: tuple
    estimators_include: tuple
    estimators_exclude: tuple
    tolerance: Tolerance
    format_tolerances: tuple = field(default=())  # ((format, Tolerance), ...)
    known: tuple = ()
    base: str = DEFAULT_BASE
    catalogue: str = "all"  # "all": every class of all_estimators(); "hand": the hand-written entries

    def tolerance_for(self, fmt):
        """The tolerance that applies to one format."""
        for name, tolerance in self.format_tolerances:  # a few formats at most: no dict made per call
            if name == fmt:
                return tolerance
        return self.tolerance

    def wants_estimator(self, name):
        """Whether the estimator selection keeps this catalogue entry."""
        keep = any(fnmatch.fnmatchcase(name, p) for p in self.estimators_include)
        return keep and not any(fnmatch.fnmatchcase(name, p) for p in self.estimators_exclude)

    def env(self, env_id):
        """The environment with this id (KeyError when absent)."""
        for env in self.envs:
            if env.id == env_id:
                return env
        raise KeyError(env_id)


def narrowed(matrix, envs):
    """The matrix with only some of its environments."""
    return dataclasses.replace(matrix, envs=tuple(envs))


def load(path, name="default"):
    """Parse matrix.toml and return the matrix called name."""
    matrices = load_all(path)
    if name not in matrices:
        raise ConfigError(f"{path}: no matrix named {name!r}{_suggest(name, matrices)}; "
                          f"have: {', '.join(matrices)}")
    return matrices[name]


def load_all(path):
    """Parse matrix.toml into {name: Matrix}, raising ConfigError on the first problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return parse(text, str(path))


def parse(text, where="matrix.toml"):
    """Validate the text of a matrix file into {name: Matrix}."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_decode_message(where, exc)) from None
    check = Checker(text, where)
    check.keys(data, TOP_KEYS, ())
    formats = check.formats(data.get("formats", list(FORMATS)), ("formats",))
    base = check.string(data.get("base", DEFAULT_BASE), ("base",))
    include, exclude, catalogue = check.estimators(data.get("estimators", {}), ("estimators",))
    tolerance, per_format = check.tolerances(data.get("tolerances", {}), ("tolerances",))
    known = check.known(data.get("known", []), ("known",))
    tables = check.table(data.get("matrix"), ("matrix",), required=True)
    if not tables:
        check.fail(("matrix",), "no matrix defined; add a [matrix.default] table")
    brought = _environments(check, data.get("environment", []), set(tables))
    result = {}
    for name, table in tables.items():
        where_key = ("matrix", name)
        table = check.table(table, where_key, required=True)
        check.keys(table, MATRIX_KEYS, where_key)
        envs, dropped = _expand(check, table, where_key)
        envs = tuple(envs) + tuple(env for env, matrices in brought if matrices is None or name in matrices)
        m_formats = check.formats(table["formats"], where_key + ("formats",)) if "formats" in table else formats
        if "estimators" in table:
            m_include, m_exclude, m_catalogue = check.estimators(table["estimators"], where_key + ("estimators",),
                                                                 catalogue)
        else:
            m_include, m_exclude, m_catalogue = include, exclude, catalogue
        result[name] = Matrix(name, where, envs, dropped, m_formats, m_include, m_exclude,
                              tolerance, per_format, known, base, m_catalogue)
    return result


def _environments(check, value, matrix_names):
    """[[environment]] entries: environments brought by the user, each with the matrices it joins
    (None: every matrix). An image's stack is stated here and checked against the image at build."""
    if not isinstance(value, list):
        check.fail(("environment",), "expected [[environment]] entries (an array of tables)")
    out, seen = [], set()
    for index, entry in enumerate(value):
        where = ("environment", index)
        entry = check.table(entry, where)
        check.keys(entry, ENVIRONMENT_KEYS, where)
        for key in ("name", "scikit-learn", "python", "numpy"):
            if key not in entry:
                check.fail(where + (key,), f"missing {key!r}: an environment brought here states the stack it has "
                           "(checked against what is installed when it is used)")
        kinds = [k for k in ("image", "requirements", "wheel", "debian") if k in entry]
        if len(kinds) > 1:
            check.fail(where + (kinds[1],), f"give one of image, requirements, wheel or debian, not "
                       f"{' and '.join(kinds)}")
        name = check.string(entry["name"], where + ("name",))
        if not NAME_RE.match(name) or name in seen:
            check.fail(where + ("name",), f"expected a unique name of 1-24 lowercase letters and digits, got {name!r}")
        seen.add(name)
        sklearn = check.string(entry["scikit-learn"], where + ("scikit-learn",))
        if not SKLEARN_RE.match(sklearn):
            check.fail(where + ("scikit-learn",), f"expected a version such as '1.4.2' or '1.10.0rc1', got {sklearn!r}")
        python = check.string(entry["python"], where + ("python",))
        if not PYTHON_RE.match(python):
            check.fail(where + ("python",), f"expected a version such as '3.11', got {python!r}")
        numpy = check.string(entry["numpy"], where + ("numpy",))
        if not re.match(r"^\d+\.\d+\.\d+$", numpy):
            check.fail(where + ("numpy",), f"expected an exact version such as '1.26.4', got {numpy!r}")
        arches = entry.get("arch", "amd64")
        arches = check.str_list(arches if isinstance(arches, list) else [arches], where + ("arch",),
                                choices=BROUGHT_ARCHES)
        matrices = None
        if "matrices" in entry:
            matrices = check.str_list(entry["matrices"], where + ("matrices",), choices=sorted(matrix_names))
        kind = kinds[0] if kinds else "pypi"
        image, reqs, suite = "", (), ""
        if kind == "debian":
            suite = _suite(check, where, entry["debian"], python)
        elif kind == "image":
            image = check.string(entry["image"], where + ("image",))
        elif kind == "requirements":
            reqs = _requirement_lines(check, where + ("requirements",), entry["requirements"])
        elif kind == "wheel":
            wheel = _local_file(check, where + ("wheel",), entry["wheel"])
            reqs = (str(wheel), f"numpy=={numpy}", "scipy")
        else:  # a release or pre-release from the registry, with the numpy stated
            reqs = (f"scikit-learn=={sklearn}", f"numpy=={numpy}", "scipy")
        label = {"image": "img", "requirements": "req", "wheel": "whl", "pypi": "pypi", "debian": "deb"}[kind] + name
        for arch in arches:
            out.append((Env(sklearn, python, numpy, arch, numpy, "", image=image, label=label, requirements=reqs,
                            pre=bool(SKLEARN_RE.match(sklearn).group(2)), debian=suite), matrices))
    return out


def _suite(check, where, value, python):
    """A Debian suite that carries the stated Python (its python3 is the stack's interpreter)."""
    suite = check.string(value, where + ("debian",))
    carried = {name: py for py, (name, _, _) in debian.SUITES.items()}
    if suite not in carried:
        check.fail(where + ("debian",), f"unknown suite {suite!r}{_suggest(suite, carried)}")
    if carried[suite] != python:
        check.fail(where + ("python",), f"Debian {suite} ships Python {carried[suite]}, not {python}")
    return suite


def _local_file(check, keypath, value):
    path = Path(check.string(value, keypath)).expanduser()
    path = path if path.is_absolute() else Path(check.where).resolve().parent / path
    if not path.is_file():
        check.fail(keypath, f"no such file: {path}")
    return path


def _requirement_lines(check, keypath, value):
    """A requirements file's requirement lines (comments, blanks and pip options left out)."""
    path = _local_file(check, keypath, value)
    lines = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            lines.append(line)
    if not any(l.lower().replace("_", "-").startswith("scikit-learn") for l in lines):
        check.fail(keypath, f"{path} does not require scikit-learn")
    return tuple(lines)


def _expand(check, table, key):
    """Cross the axes, apply include/exclude globs, and drop what has no wheels."""
    sklearns = check.versions(table, key, "scikit-learn", pins.known_sklearn())
    pythons = check.versions(table, key, "python", pins.known_pythons(), PYTHON_RE)
    numpys = check.str_list(table.get("numpy", ["default"]), key + ("numpy",), pattern=NUMPY_RE,
                            what="'default', '1', '2' or an exact version such as '1.26.4'")
    arches = check.str_list(table.get("arch", ["amd64"]), key + ("arch",), choices=pins.ARCHES)
    include = check.str_list(table.get("include", ["*"]), key + ("include",))
    exclude = check.str_list(table.get("exclude", []), key + ("exclude",), allow_empty=True)
    candidates = {}
    for skl, py, np_, arch in itertools.product(sklearns, pythons, numpys, arches):
        got = pins.pins_for(skl, py, arch, np_)
        label = np_
        if np_ == "default":
            label = pins.numpy_major(got.numpy) if got.numpy else pins.default_major(skl)
        env_id = format_id(skl, py, "np" + label, arch)
        if env_id not in candidates:
            candidates[env_id] = (Env(skl, py, label, arch, got.numpy, got.scipy), got.dropped)
    for pattern in include:
        if not any(fnmatch.fnmatchcase(i, pattern) for i in candidates):
            check.fail(key + ("include",), f"pattern {pattern!r} matches no environment of the axes"
                       f"{_suggest(pattern, candidates)}")
    selected = [i for i in candidates
                if any(fnmatch.fnmatchcase(i, p) for p in include)
                and not any(fnmatch.fnmatchcase(i, p) for p in exclude)]
    if not selected:
        check.fail(key, "the matrix is empty after include/exclude")
    envs = tuple(candidates[i][0] for i in selected if not candidates[i][1])
    dropped = tuple(Dropped(i, candidates[i][1]) for i in selected if candidates[i][1])
    if not envs:
        check.fail(key, f"every environment was dropped, e.g. {dropped[0].id}: {dropped[0].reason}")
    return envs, dropped


def _decode_message(where, exc):
    """One line from a TOMLDecodeError: file:line: what."""
    msg = str(exc)
    found = re.search(r"\(at line (\d+), column (\d+)\)", msg)
    if found:
        head = msg[: found.start()].strip()
        return f"{where}:{found.group(1)}: invalid TOML: {head} (column {found.group(2)})"
    return f"{where}: invalid TOML: {msg}"

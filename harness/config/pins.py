"""Which (scikit-learn, Python, numpy, arch) combinations have wheels, and their numpy/scipy pins.

The table in data/wheel-cells.json was checked against PyPI with `pip download --only-binary=:all:`
and smoke-tested; its pins are the numpy/scipy releases contemporary with each scikit-learn patch,
because "newest allowed by metadata" breaks old scikit-learn at import time (np.int, pinv2, ...).
"""

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

from ..core.versions import version_tuple

ARCHES = ("amd64", "arm64", "i386")  # i386: PyPI's 32-bit wheels, up to scikit-learn 1.0.2

# First scikit-learn release built against numpy 2 (earlier wheels fail with "dtype size changed").
FIRST_NUMPY2_SKLEARN = (1, 4, 2)

# numpy 1.26.4 is the last numpy 1.x; it has wheels for CPython 3.9-3.12 on both arches.
NUMPY1_LAST = "1.26.4"
NUMPY1_PYTHONS = ("3.9", "3.10", "3.11", "3.12")
# numpy 2.0.2 is the first numpy 2.x with wheels for 3.9-3.12 and works with scipy 1.13.1.
NUMPY2_FIRST = "2.0.2"
NUMPY2_FIRST_PYTHONS = ("3.9", "3.10", "3.11", "3.12")
# scipy 1.13.1 was built against numpy 2.0 and accepts numpy 1.22.4 and later: it serves both majors.
SCIPY_BOTH_MAJORS = "1.13.1"


@cache
def wheel_cells():
    """{sklearn: {python: {arch: [numpy, scipy]}}} from the packaged table."""
    text = resources.files("harness").joinpath("data/wheel-cells.json").read_text()
    return json.loads(text)


def known_sklearn():
    """scikit-learn releases the table knows, oldest first."""
    return sorted(wheel_cells(), key=version_tuple)


def known_pythons():
    """Python versions that appear anywhere in the table, oldest first."""
    return sorted({py for row in wheel_cells().values() for py in row}, key=version_tuple)


@dataclass(frozen=True)
class Pins:
    """numpy and scipy pins for one environment, or why it cannot be installed."""

    numpy: str = ""
    scipy: str = ""
    dropped: str = ""


def numpy_major(version):
    """The numpy major of a pin ('1.26.4' -> '1')."""
    return version.split(".", 1)[0]


def pins_for(sklearn, python, arch, numpy="default"):
    """Pins for a combination; numpy is 'default', '1', '2' or an exact version."""
    row = wheel_cells().get(sklearn, {})
    if python not in row:
        have = ", ".join(sorted(row, key=version_tuple)) or "none"
        return Pins(dropped=f"scikit-learn {sklearn} has no wheels for Python {python} (has: {have})")
    cell = row[python].get(arch)
    if cell is None:
        return Pins(dropped=f"scikit-learn {sklearn} has no {arch} wheels for Python {python}")
    default_numpy, default_scipy = cell
    if numpy == "default" or numpy == numpy_major(default_numpy):
        return Pins(default_numpy, default_scipy)
    wanted = numpy_major(numpy)
    old_abi = version_tuple(sklearn) < FIRST_NUMPY2_SKLEARN
    if wanted == "2" and old_abi:
        return Pins(dropped=f"scikit-learn {sklearn} is built against numpy 1.x; numpy 2 needs scikit-learn >= 1.4.2")
    if numpy in ("1", "2"):
        return _other_major(sklearn, python, numpy)
    # An exact numpy pin: keep the default scipy when the major matches, else the bridge scipy.
    if numpy_major(numpy) == numpy_major(default_numpy):
        return Pins(numpy, default_scipy)
    other = _other_major(sklearn, python, wanted)  # same wheel limits as the major's own pin
    return other if other.dropped else Pins(numpy, other.scipy)


def _other_major(sklearn, python, major):
    """Pins for the numpy major that is not the cell's default."""
    if major == "1":
        if python not in NUMPY1_PYTHONS:
            return Pins(dropped=f"numpy 1.x has no wheels for Python {python}")
        return Pins(NUMPY1_LAST, SCIPY_BOTH_MAJORS)
    if python not in NUMPY2_FIRST_PYTHONS:
        return Pins(dropped=f"no tested numpy 2 pin for scikit-learn {sklearn} on Python {python}")
    return Pins(NUMPY2_FIRST, SCIPY_BOTH_MAJORS)


# pandas, for the entries fitted on DataFrames: the series that was current when each
# scikit-learn minor came out (contemporary, as numpy and scipy are). A series, not a cap: pip then
# picks among a few patches only, where an open range made it backtrack through dozens of pandas
# releases on platforms that lack another package (i386). Minors after the table: the newest pandas.
PANDAS_SERIES = {"0.24": "1.2", "1.0": "1.3", "1.1": "1.5", "1.2": "1.5", "1.3": "2.1", "1.4": "2.2",
                 "1.5": "2.2", "1.6": "2.2", "1.7": "2.3", "1.8": "2.3"}


def pandas_requirement(sklearn):
    """The pandas requirement of an environment with this scikit-learn ('pandas==1.2.*' for 0.24.2)."""
    series = PANDAS_SERIES.get(".".join(sklearn.split(".")[:2]))
    return f"pandas=={series}.*" if series else "pandas"


def default_major(sklearn):
    """The numpy major most cells of a scikit-learn release default to (for ids of dropped cells)."""
    majors = [numpy_major(cell[0]) for row in wheel_cells().get(sklearn, {}).values() for cell in row.values()]
    if majors:
        return max(set(majors), key=majors.count)
    return "2" if version_tuple(sklearn) >= FIRST_NUMPY2_SKLEARN else "1"

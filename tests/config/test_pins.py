"""harness.config.pins: wheel availability and numpy/scipy pins for each (scikit-learn, Python, arch, numpy) cell."""

import dataclasses

import pytest

from harness.config import pins
from harness.config.pins import Pins, default_major, numpy_major, pins_for
from harness.core.versions import version_key, version_tuple


def table(sklearn, python, arch):
    """The (numpy, scipy) default of a cell, straight from data/wheel-cells.json."""
    return tuple(pins.wheel_cells()[sklearn][python][arch])


@pytest.mark.parametrize("cell", [("1.3.2", "3.11", "amd64"), ("1.3.2", "3.8", "arm64"), ("1.6.1", "3.9", "amd64"),
                                  ("1.9.1", "3.12", "arm64"), ("0.22.2.post1", "3.8", "amd64")])
def test_default_pins_come_from_the_table(cell):
    numpy, scipy = table(*cell)
    assert pins_for(*cell) == Pins(numpy, scipy)
    assert pins_for(*cell, numpy="default") == Pins(numpy, scipy)
    assert pins_for(*cell, numpy=numpy_major(numpy)) == Pins(numpy, scipy)  # the default's own major


def test_numpy_major_alternatives():
    assert pins_for("1.4.2", "3.11", "amd64", "2") == Pins(pins.NUMPY2_FIRST, pins.SCIPY_BOTH_MAJORS)
    assert pins_for("1.4.2", "3.11", "amd64", "1") == Pins(*table("1.4.2", "3.11", "amd64"))
    assert pins_for("1.6.1", "3.11", "arm64", "1") == Pins(pins.NUMPY1_LAST, pins.SCIPY_BOTH_MAJORS)
    assert pins_for("1.6.1", "3.11", "arm64", "2") == Pins(*table("1.6.1", "3.11", "arm64"))


@pytest.mark.parametrize("sklearn", ["0.24.2", "1.2.2", "1.3.2"])
def test_numpy2_needs_sklearn_1_4_2(sklearn):
    got = pins_for(sklearn, "3.9", "amd64", "2")
    assert got.dropped == f"scikit-learn {sklearn} is built against numpy 1.x; numpy 2 needs scikit-learn >= 1.4.2"
    assert (got.numpy, got.scipy) == ("", "")
    assert pins_for(sklearn, "3.9", "amd64", "2.0.2").dropped == got.dropped  # an exact 2.x pin too


@pytest.mark.parametrize("python", ["3.13", "3.14"])
def test_numpy1_has_no_wheels_past_3_12(python):
    got = pins_for("1.8.0", python, "amd64", "1")
    assert got.dropped == f"numpy 1.x has no wheels for Python {python}"
    assert pins_for("1.8.0", python, "amd64", "1.26.4").dropped == got.dropped  # an exact 1.x pin too


def test_no_wheels_for_python():
    assert pins_for("1.2.2", "3.13", "amd64").dropped == \
        "scikit-learn 1.2.2 has no wheels for Python 3.13 (has: 3.8, 3.9, 3.10, 3.11)"
    assert pins_for("0.24.2", "3.13", "arm64", "1").dropped.startswith("scikit-learn 0.24.2 has no wheels for Python 3.13")
    assert pins_for("9.9.9", "3.11", "amd64").dropped == "scikit-learn 9.9.9 has no wheels for Python 3.11 (has: none)"


@pytest.mark.parametrize("sklearn", ["0.22.2.post1", "0.23.2"])
def test_no_arm64_wheels_before_0_24(sklearn):
    assert pins_for(sklearn, "3.8", "arm64").dropped == f"scikit-learn {sklearn} has no arm64 wheels for Python 3.8"
    assert not pins_for(sklearn, "3.8", "amd64").dropped


def test_no_tested_numpy2_pin(monkeypatch):
    monkeypatch.setattr(pins, "wheel_cells", lambda: {"1.4.2": {"3.13": {"amd64": ["1.26.4", "1.13.1"]}}})
    assert pins_for("1.4.2", "3.13", "amd64", "2").dropped == \
        "no tested numpy 2 pin for scikit-learn 1.4.2 on Python 3.13"


def test_exact_numpy_pins():
    numpy, scipy = table("1.3.2", "3.11", "amd64")
    assert pins_for("1.3.2", "3.11", "amd64", "1.25.2") == Pins("1.25.2", scipy)  # same major: default scipy
    assert pins_for("1.6.1", "3.11", "amd64", "1.26.4") == Pins("1.26.4", pins.SCIPY_BOTH_MAJORS)
    assert pins_for("1.4.2", "3.12", "amd64", "2.1.3") == Pins("2.1.3", pins.SCIPY_BOTH_MAJORS)


def test_pins_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Pins().numpy = "1"
    assert not Pins("1.26.4", "1.11.4").dropped


@pytest.mark.parametrize("text, expected", [
    ("1.4.2", (1, 4, 2)),
    ("0.22.2.post1", (0, 22, 2)),
    ("3.10", (3, 10)),
    ("1.10.0", (1, 10, 0)),
    ("1.4.0rc1", (1, 4, 0)),
    ("2.0.0b1", (2, 0, 0)),
    ("1.6.dev0", (1, 6)),
    ("", ()),
])
def test_version_tuple(text, expected):
    assert version_tuple(text) == expected


def test_version_ordering():
    assert version_tuple("3.10") > version_tuple("3.9")
    assert version_tuple("1.10.0") > version_tuple("1.9.1")
    sklearn = pins.known_sklearn()
    assert sklearn == sorted(sklearn, key=version_tuple)
    assert sklearn[0] == "0.22.2.post1" and "1.3.2" in sklearn
    # The sort key of the report and the cause table: the same order, text after numbers.
    assert sorted(["1.10.0", "?", "1.9.1", "deb12", "1"], key=version_key) == ["1", "1.9.1", "1.10.0", "?", "deb12"]
    pythons = pins.known_pythons()
    assert pythons.index("3.9") < pythons.index("3.10") < pythons.index("3.13")


def test_numpy_major_and_default_major():
    assert numpy_major("1.26.4") == "1" and numpy_major("2.0.2") == "2" and numpy_major("2") == "2"
    assert default_major("1.3.2") == "1"
    assert default_major("1.6.1") == "2"
    assert default_major("1.4.2") == "1"  # its wheels were built against numpy 2 but default to 1.26.4
    assert default_major("9.9.9") == "2" and default_major("0.1.0") == "1"  # unknown: by release


def test_every_table_cell_is_well_formed():
    for sklearn, row in pins.wheel_cells().items():
        for python, cells in row.items():
            assert set(cells) <= set(pins.ARCHES), (sklearn, python)
            for arch, (numpy, scipy) in cells.items():
                assert len(version_tuple(numpy)) == 3 and len(version_tuple(scipy)) == 3
                assert pins_for(sklearn, python, arch) == Pins(numpy, scipy)
                if version_tuple(sklearn) < pins.FIRST_NUMPY2_SKLEARN:
                    assert numpy_major(numpy) == "1", (sklearn, python, arch)


@pytest.mark.parametrize("sklearn, wanted", [("0.24.2", "pandas==1.2.*"), ("1.2.2", "pandas==1.5.*"),
                                             ("1.8.0", "pandas==2.3.*"), ("1.9.1", "pandas"),
                                             ("1.10.0rc1", "pandas")])
def test_pandas_of_each_scikit_learn_is_of_its_time(sklearn, wanted):
    assert pins.pandas_requirement(sklearn) == wanted
    series = [version_tuple(v) for _, v in sorted(pins.PANDAS_SERIES.items(), key=lambda kv: version_tuple(kv[0]))]
    assert series == sorted(series)  # a newer scikit-learn never gets an older pandas

"""Environments whose stack is a Debian suite's own packages (python3-sklearn, numpy, scipy: built
by Debian, patched, linked to the system BLAS), for architectures PyPI has no scikit-learn wheels
for (s390x) or only old ones (i386), and as distribution twins of the wheel builds on amd64."""

# Installed from the suite by debootstrap; apt resolves the rest of the stack from them.
PACKAGES = ("python3-sklearn", "python3-cloudpickle", "python3-pandas")
# Distributions those packages provide: never taken from PyPI for a Debian environment.
PROVIDED = frozenset({"scikit-learn", "numpy", "scipy", "joblib", "threadpoolctl", "cloudpickle",
                      "pandas"})
# Optional pure-Python additions from PyPI, richest first; pip resolves them against the suite's
# scikit-learn and numpy (on amd64 wheels, for their metadata only) and only the pure-Python
# wheels of what the suite lacks are kept.
TIERS = (("skops",), ())
# Formats no Debian environment has, and why.
MISSING = (("onnx", "Debian packages neither skl2onnx nor onnxruntime, and PyPI's onnxruntime is "
                    "built against its own numpy and for amd64 and arm64 only"),)
# The platform pip resolves the additions on: any with wheels of the stated scikit-learn.
RESOLVE_ARCH = "amd64"


def is_pure(filename):
    """Whether a wheel file is pure Python (runs on every architecture)."""
    return filename.endswith("-none-any.whl")


def kept(filename):
    """Whether a resolved wheel joins a Debian environment: pure Python, not part of the suite's stack."""
    name = filename.split("-")[0].lower().replace("_", "-")
    return is_pure(filename) and name not in PROVIDED

# Python -> (Debian suite, its glibc, extra packages). Debian ships one python3 per suite; sid
# also carries the next Python as pythonX.Y packages. pythonX.Y-venv in bullseye and bookworm
# depends on the virtual pythonX.Y-distutils, which debootstrap cannot resolve: name its provider.
SUITES = {
    "3.9": ("bullseye", "2.31", ("python3-distutils",)),
    "3.11": ("bookworm", "2.36", ("python3-distutils",)),
    "3.13": ("trixie", "2.41", ()),
    "3.14": ("sid", "2.41", ()),
}

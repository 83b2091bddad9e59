"""A numerics self-test of every image before it produces evidence: qemu-user has been seen to run
OpenBLAS's SVE kernels wrongly (numpy 2.5 on arm64: matrix products of NaN), which would make an
emulated environment look incompatible with everything."""

from . import engine
from .errors import BuildError
from .layout import read_json, sha256_text, write_json

# A matrix product through BLAS against the same sums without it; prints the largest difference.
PROBE = ("import numpy as np; r = np.random.RandomState(0); a = r.rand(120, 40); b = r.rand(40, 30); "
         "d = abs(a @ b - (a[:, :, None] * b[None, :, :]).sum(1)).max(); print(repr(float(d)))")
TOLERANCE = 1e-9
# Settings tried in order when the image's defaults fail the probe: OpenBLAS's generic ARMv8
# kernels instead of the SVE ones it picks under emulation.
FALLBACKS = {"arm64": ({"OPENBLAS_CORETYPE": "ARMV8"},)}


def probe(client, tag, environment):
    """The probe's largest error in a container of tag with these variables (inf when it fails)."""
    code, out, _ = engine.run(client, tag, ["python", "-c", PROBE], environment=dict(environment))
    try:
        error = float(out.strip().splitlines()[-1]) if code == 0 else float("inf")
    except (ValueError, IndexError):
        error = float("inf")
    return error if error == error else float("inf")  # NaN counts as wrong


def runtime_env(client, tag, arch, cache):
    """The variables tag needs for correct numerics here, as sorted (name, value) pairs (empty when
    none); the answer is cached per image. BuildError when no setting gives correct products."""
    path = cache.root / "numerics" / f"{sha256_text(tag)[:24]}.json"
    known = read_json(path)
    if known is not None and known.get("tag") == tag:
        return tuple(tuple(pair) for pair in known["env"])
    errors = []
    for environment in ({},) + FALLBACKS.get(arch, ()):
        error = probe(client, tag, environment)
        errors.append(error)
        if error <= TOLERANCE:
            found = tuple(sorted(environment.items()))
            write_json(path, {"tag": tag, "env": [list(pair) for pair in found], "errors": errors})
            return found
    raise BuildError(f"{tag} computes wrong matrix products here (largest errors {errors}, with the defaults and "
                     f"with {list(FALLBACKS.get(arch, ()))})",
                     hint="this emulator cannot stand for the hardware: exclude the environment or use a native runner")

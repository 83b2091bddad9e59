"""A numerics self-test of every image before it produces evidence: qemu-user has been seen to run
OpenBLAS's SVE kernels wrongly (numpy 2.5 on arm64: matrix products of NaN), which would make an
emulated environment look incompatible with everything."""

from . import engine
from ..core.platforms import HOST_ARCH, WORD
from ..core.errors import BuildError
from ..core.files import read_json, sha256_text, write_json

# A matrix product through BLAS against the same sums without it; prints the largest difference,
# then the interpreter's byte order and pointer size.
PROBE = ("import struct, sys, numpy as np; r = np.random.RandomState(0); a = r.rand(120, 40); "
         "b = r.rand(40, 30); d = abs(a @ b - (a[:, :, None] * b[None, :, :]).sum(1)).max(); "
         "print(repr(float(d)), sys.byteorder, struct.calcsize('P'))")
CHECKS = 3  # bump when the self-test checks more or the defaults change: images are probed again
TOLERANCE = 1e-9
# The CPU qemu-user stands for. Its default, "max", has every optional feature (SVE2 and SME
# included), which no common machine has and which QEMU runs slowly: under it scikit-learn 1.9.1
# on numpy 2.5 imports in 44.7 s and calls in 4.6x the time it takes as a Neoverse N1 (Graviton2,
# Ampere Altra: the most common arm64 server core), whose NEON code paths real machines run.
EMULATED_CPU = {"arm64": "neoverse-n1"}
# Settings tried in order when the image's defaults fail the probe: OpenBLAS's generic ARMv8
# kernels instead of the SVE ones it picks under emulation.
FALLBACKS = {"arm64": ({"OPENBLAS_CORETYPE": "ARMV8"},)}


def defaults(arch):
    """The variables every container of an environment of arch gets here: the emulated CPU."""
    if arch == HOST_ARCH or arch not in EMULATED_CPU:
        return {}
    return {"QEMU_CPU": EMULATED_CPU[arch]}


def probe(client, tag, environment):
    """(largest error, (byte order, pointer bytes) or None) of the probe in a container of tag
    with these variables; the error is inf when the probe fails."""
    code, out, _ = engine.run(client, tag, ["python", "-c", PROBE], environment=dict(environment))
    try:
        text, order, size = out.strip().splitlines()[-1].split() if code == 0 else ("inf", "", "")
        error, word = float(text), (order, int(size)) if order else None
    except (ValueError, IndexError):
        error, word = float("inf"), None
    return (error if error == error else float("inf")), word  # NaN counts as wrong


def runtime_env(client, tag, arch, cache):
    """The variables tag needs for correct numerics here, as sorted (name, value) pairs (empty when
    none); the answer is cached per image. BuildError when no setting gives correct products."""
    path = cache.root / "numerics" / f"{sha256_text(tag)[:24]}.json"
    known = read_json(path)
    if known is not None and known.get("tag") == tag and known.get("checks") == CHECKS:
        return tuple(tuple(pair) for pair in known["env"])
    errors, base = [], defaults(arch)
    for environment in [base] + [dict(base, **fallback) for fallback in FALLBACKS.get(arch, ())]:
        error, word = probe(client, tag, environment)
        _check_word(tag, arch, word)
        errors.append(error)
        if error <= TOLERANCE:
            found = tuple(sorted(environment.items()))
            write_json(path, {"tag": tag, "checks": CHECKS, "env": [list(pair) for pair in found], "errors": errors})
            return found
    raise BuildError(f"{tag} computes wrong matrix products here (largest errors {errors}, with the defaults and "
                     f"with {list(FALLBACKS.get(arch, ()))})",
                     hint="this emulator cannot stand for the hardware: exclude the environment or use a native runner")


def _check_word(tag, arch, word):
    """BuildError when the interpreter is not of the byte order and word size its id says: it
    would produce evidence for another platform than the one it is listed under."""
    want = WORD.get(arch)
    if word is None or want is None or tuple(word) == want:
        return
    def say(w):
        return f"{w[0]}-endian {w[1] * 8}-bit"
    raise BuildError(f"{tag} runs a {say(word)} interpreter, but its id says {arch} ({say(want)})",
                     hint="the base image or the emulation is of another architecture: rebuild it for this one")

"""Architecture names and what each one is: the machine an interpreter reports, its byte order and
word size, and the host's own architecture (which the others are emulated against)."""

import platform

MACHINE = {"amd64": "x86_64", "arm64": "aarch64", "i386": "i686", "s390x": "s390x"}
# platform.machine() is the kernel's: a 32-bit userland on this amd64 kernel says x86_64 (the
# numerics self-test's word size is what proves it 32-bit).
ACCEPTED_MACHINES = {"i386": ("i686", "x86_64")}
# What an interpreter of each architecture reports: (sys.byteorder, pointer bytes). A 32-bit
# userland on a 64-bit kernel says the kernel's machine, so the word is what tells it apart.
WORD = {"amd64": ("little", 8), "arm64": ("little", 8), "i386": ("little", 4), "armhf": ("little", 4),
        "s390x": ("big", 8), "ppc64": ("big", 8), "ppc64el": ("little", 8)}
HOST_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


def word_text(arch):
    """'64-bit little-endian' for an architecture ('?' when unknown): how the report groups them."""
    if arch not in WORD:
        return "?"
    order, size = WORD[arch]
    return f"{size * 8}-bit {order}-endian"

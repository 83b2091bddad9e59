"""A seccomp filter for a child that unpickles an untrusted file: the syscalls that trace, read or
write another process's memory (or take its file descriptors) fail with EPERM; every other
syscall is allowed.

install() is called in the forked child, before it opens the artifact. Standard library and ctypes
only; runs on Python 3.6. It never raises: (False, reason) when the filter cannot be installed
(unknown architecture, kernel without seccomp, qemu-user, which refuses PR_SET_SECCOMP).
"""

import ctypes
import errno
import os
import platform
import struct
import sys

# What the filter denies, in the order of every table below.
DENIED = ("ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp")

# AUDIT_ARCH_* of include/uapi/linux/audit.h: EM_* of include/uapi/linux/elf-em.h
# | __AUDIT_ARCH_64BIT (0x80000000) | __AUDIT_ARCH_LE (0x40000000).
AUDIT_ARCH_X86_64 = 0xC000003E   # EM_X86_64 62 | 64BIT | LE
AUDIT_ARCH_I386 = 0x40000003     # EM_386 3 | LE
AUDIT_ARCH_AARCH64 = 0xC00000B7  # EM_AARCH64 183 | 64BIT | LE
AUDIT_ARCH_ARM = 0x40000028      # EM_ARM 40 | LE
AUDIT_ARCH_S390X = 0x80000016    # EM_S390 22 | 64BIT
AUDIT_ARCH_PPC64 = 0x80000015    # EM_PPC64 21 | 64BIT
AUDIT_ARCH_PPC64LE = 0xC0000015  # EM_PPC64 21 | 64BIT | LE

# x86_64: syscalls with this bit set are x32 ones (arch still AUDIT_ARCH_X86_64), numbered
# differently (x32 ptrace is 521 | bit): all denied (arch/x86/include/uapi/asm/unistd.h).
X32_SYSCALL_BIT = 0x40000000

# Per ABI: (AUDIT_ARCH, ELF e_machine, pointer bytes, byte order, {syscall: nr}, seccomp nr).
# pidfd_getfd is 438 everywhere: from 424 on, every table but alpha/ia64/mips shares numbers.
TABLES = {
    # arch/x86/entry/syscalls/syscall_64.tbl ("common"/"64" rows)
    "x86_64": (AUDIT_ARCH_X86_64, 62, 8, "little",
               {"ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311,
                "pidfd_getfd": 438, "kcmp": 312}, 317),
    # arch/x86/entry/syscalls/syscall_32.tbl
    "i386": (AUDIT_ARCH_I386, 3, 4, "little",
             {"ptrace": 26, "process_vm_readv": 347, "process_vm_writev": 348,
              "pidfd_getfd": 438, "kcmp": 349}, 354),
    # include/uapi/asm-generic/unistd.h (arm64 uses the generic table)
    "aarch64": (AUDIT_ARCH_AARCH64, 183, 8, "little",
                {"ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271,
                 "pidfd_getfd": 438, "kcmp": 272}, 277),
    # arch/arm/tools/syscall.tbl (EABI; also AArch32 processes on an arm64 kernel)
    "arm": (AUDIT_ARCH_ARM, 40, 4, "little",
            {"ptrace": 26, "process_vm_readv": 376, "process_vm_writev": 377,
             "pidfd_getfd": 438, "kcmp": 378}, 383),
    # arch/s390/kernel/syscalls/syscall.tbl
    "s390x": (AUDIT_ARCH_S390X, 22, 8, "big",
              {"ptrace": 26, "process_vm_readv": 340, "process_vm_writev": 341,
               "pidfd_getfd": 438, "kcmp": 343}, 348),
    # arch/powerpc/kernel/syscalls/syscall.tbl (the same numbers for both byte orders)
    "ppc64": (AUDIT_ARCH_PPC64, 21, 8, "big",
              {"ptrace": 26, "process_vm_readv": 351, "process_vm_writev": 352,
               "pidfd_getfd": 438, "kcmp": 354}, 358),
    "ppc64le": (AUDIT_ARCH_PPC64LE, 21, 8, "little",
                {"ptrace": 26, "process_vm_readv": 351, "process_vm_writev": 352,
                 "pidfd_getfd": 438, "kcmp": 354}, 358),
}

# include/uapi/linux/prctl.h, include/uapi/linux/seccomp.h
PR_GET_SECCOMP = 21
PR_SET_SECCOMP = 22
PR_SET_NO_NEW_PRIVS = 38
SECCOMP_MODE_FILTER = 2
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000
# EPERM rather than SECCOMP_RET_KILL_PROCESS: a denied call is an error the child can report.
DENY = SECCOMP_RET_ERRNO | errno.EPERM

# include/uapi/linux/bpf_common.h
BPF_LD_W_ABS = 0x00 | 0x00 | 0x20   # BPF_LD | BPF_W | BPF_ABS
BPF_JEQ_K = 0x05 | 0x10 | 0x00      # BPF_JMP | BPF_JEQ | BPF_K
BPF_JGE_K = 0x05 | 0x30 | 0x00      # BPF_JMP | BPF_JGE | BPF_K
BPF_RET_K = 0x06 | 0x00             # BPF_RET | BPF_K
# struct seccomp_data (include/uapi/linux/seccomp.h): int nr; __u32 arch; ...
OFFSET_NR = 0
OFFSET_ARCH = 4


class SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                ("k", ctypes.c_uint32)]


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]


def abi(machine=None):
    """The key of TABLES for this process, or None: platform.machine() names the kernel's
    machine, the pointer size tells a 32-bit interpreter on a 64-bit kernel."""
    machine = platform.machine() if machine is None else machine
    bits64 = struct.calcsize("P") == 8
    if machine in ("x86_64", "amd64"):
        # 4-byte pointers: i386, or x32 (same kernel arch, other numbers): told by the ELF header.
        if bits64:
            return "x86_64"
        identity = _elf_identity()
        return "i386" if identity is not None and identity[0] == 3 else None
    if machine in ("i386", "i486", "i586", "i686"):
        return "i386"
    if machine in ("aarch64", "arm64"):
        return "aarch64" if bits64 else ("arm" if sys.byteorder == "little" else None)
    if machine.startswith("armv") and machine.endswith("l"):  # armv6l, armv7l, armv8l (EABI)
        return "arm" if not bits64 else None
    if machine in ("s390x", "ppc64", "ppc64le"):
        return machine if bits64 else None
    return None


def _elf_identity():
    """(e_machine, pointer bytes, byte order) of the running interpreter's ELF header
    (/proc/self/exe), or None where it cannot be read."""
    try:
        with open("/proc/self/exe", "rb") as handle:
            head = handle.read(20)
    except OSError:
        return None
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    order = "little" if head[5:6] == b"\x01" else "big"
    bits = 8 if head[4:5] == b"\x02" else 4
    machine = struct.unpack("<H" if order == "little" else ">H", head[18:20])[0]
    return machine, bits, order


def _elf_matches(entry):
    """False when the interpreter's ELF header says another ABI than the table (a filter for the
    wrong AUDIT_ARCH would fail every syscall); True when it agrees or cannot be read."""
    identity = _elf_identity()
    return identity is None or identity == (entry[1], entry[2], entry[3])


def program(audit_arch, numbers, x32=False):
    """The classic BPF program, as (code, jt, jf, k) tuples: another arch -> EPERM; (x86_64) an
    x32 syscall -> EPERM; one of numbers -> EPERM; anything else -> allowed."""
    numbers = list(numbers)
    count = len(numbers)
    code = [(BPF_LD_W_ABS, 0, 0, OFFSET_ARCH),
            (BPF_JEQ_K, 1, 0, audit_arch),
            (BPF_RET_K, 0, 0, DENY),
            (BPF_LD_W_ABS, 0, 0, OFFSET_NR)]
    if x32:  # jumps over the comparisons and ALLOW, to DENY
        code.append((BPF_JGE_K, count + 1, 0, X32_SYSCALL_BIT))
    for index, nr in enumerate(numbers):
        code.append((BPF_JEQ_K, count - index, 0, nr))
    code.append((BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW))
    code.append((BPF_RET_K, 0, 0, DENY))
    return code


_PREPARED = []  # (libc, key, program, seccomp nr) or a reason, made once by prepare()


def prepare():
    """Find the syscall table, build the filter and load libc once, in the loader: every forked
    child then only installs it (this costs a child 3 ms natively, 15 ms under emulation)."""
    if not _PREPARED:
        try:
            _PREPARED.append(_prepare())
        except Exception as exc:  # noqa: BLE001 - the child reports it, as install() would
            _PREPARED.append("seccomp filter not prepared: %s: %s" % (type(exc).__name__, exc))
    return _PREPARED[0]


def install():
    """Install the filter in this process (and, where the kernel can, in all its threads);
    returns (True, "") or (False, reason). Irreversible: sets no_new_privs too."""
    try:
        return _install(prepare())
    except Exception as exc:  # noqa: BLE001 - never raise: the caller decides what to do
        return False, "seccomp filter not installed: %s: %s" % (type(exc).__name__, exc)


def _prepare():
    if not sys.platform.startswith("linux"):
        return "seccomp needs Linux, not %s" % sys.platform
    machine = platform.machine()
    key = abi(machine)
    if key is None:
        return "no syscall table for %s" % (machine or "an unknown machine")
    entry = TABLES[key]
    audit_arch, numbers, seccomp_nr = entry[0], entry[4], entry[5]
    if not _elf_matches(entry):
        return "no syscall table for this interpreter on %s" % machine
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.restype = ctypes.c_int
    libc.syscall.restype = ctypes.c_long
    code = program(audit_arch, (numbers[name] for name in DENIED), x32=(key == "x86_64"))
    filters = (SockFilter * len(code))(*[SockFilter(*row) for row in code])
    prog = SockFprog(len(code), ctypes.cast(filters, ctypes.POINTER(SockFilter)))
    return libc, key, (filters, prog), seccomp_nr


def _install(prepared):
    if isinstance(prepared, str):
        return False, prepared
    libc, key, (filters, prog), seccomp_nr = prepared
    prctl = libc.prctl
    ulong = ctypes.c_ulong
    # A kernel with seccomp answers the current mode; qemu-user (which must not let the guest
    # filter its own syscalls) and kernels without CONFIG_SECCOMP answer EINVAL.
    if prctl(PR_GET_SECCOMP, ulong(0), ulong(0), ulong(0), ulong(0)) < 0:
        return False, "seccomp unavailable (prctl PR_GET_SECCOMP: %s)" % _strerror()
    if prctl(PR_SET_NO_NEW_PRIVS, ulong(1), ulong(0), ulong(0), ulong(0)) != 0:
        return False, "prctl PR_SET_NO_NEW_PRIVS failed: %s" % _strerror()
    address = ctypes.c_void_p(ctypes.addressof(prog))
    # seccomp(2) with TSYNC also filters threads already running (a BLAS pool); kernels before
    # 3.17 lack the syscall (ENOSYS) or may refuse the flag (EINVAL): prctl then, this thread.
    done = libc.syscall(ctypes.c_long(seccomp_nr), ulong(SECCOMP_SET_MODE_FILTER),
                        ulong(SECCOMP_FILTER_FLAG_TSYNC), address)
    if done == 0:
        return True, ""
    if done > 0:
        return False, "seccomp: thread %d could not be synchronised" % done
    if ctypes.get_errno() not in (errno.ENOSYS, errno.EINVAL):
        return False, "seccomp(SECCOMP_SET_MODE_FILTER) failed: %s" % _strerror()
    if prctl(PR_SET_SECCOMP, ulong(SECCOMP_MODE_FILTER), address, ulong(0), ulong(0)) != 0:
        return False, "prctl PR_SET_SECCOMP failed: %s" % _strerror()
    return True, ""


def _strerror():
    number = ctypes.get_errno()
    return "%s (errno %d)" % (os.strerror(number), number)

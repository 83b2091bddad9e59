"""Tests of the inside seccomp filter: every filter is installed in a forked child (os.fork, the
result back through a pipe), never in the test process, which it could not leave.

The attacks target a sibling "victim" forked from this process (so a buffer made here has the
same address there) and, read-only, this process (the child's parent). Each attack also runs
without the filter, so an EPERM cannot come from ordinary permission checks: as root (with
CAP_SYS_PTRACE) the unfiltered child succeeds.
"""

import ctypes
import errno
import importlib.util
import json
import mmap
import os
import platform
import re
import select
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

import pytest

from harness.inside.load import seccomp

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="seccomp is Linux")

REPO = Path(__file__).resolve().parents[2]
X86_64 = platform.machine() == "x86_64" and ctypes.sizeof(ctypes.c_void_p) == 8
PTRACE_ATTACH, PTRACE_DETACH = 16, 17
KCMP_FILE = 0
PIDFD_OPEN = 434  # the same number on every architecture TABLES covers
# The attacks' own numbers on x86_64 (asm/unistd_64.h), so that a wrong table entry fails them.
X86_64_NR = {"pidfd_getfd": 438, "kcmp": 312}
SECRET = ctypes.create_string_buffer(b"loader-secret-0123456789")  # before any fork


class Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


def libc():
    lib = ctypes.CDLL(None, use_errno=True)
    lib.syscall.restype = ctypes.c_long
    lib.ptrace.restype = ctypes.c_long
    lib.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    lib.process_vm_readv.restype = ctypes.c_ssize_t
    return lib


def call(function, *args):
    """(return value, errno) of a libc call."""
    ctypes.set_errno(0)
    result = function(*args)
    return result, ctypes.get_errno()


def in_child(work, timeout=20):
    """work()'s JSON-able result, computed in a forked child."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # never returns into pytest
        try:
            os.close(read_fd)
            try:
                payload = json.dumps({"result": work()})
            except BaseException:  # noqa: BLE001 - reported to the parent
                payload = json.dumps({"error": traceback.format_exc()})
            data = payload.encode()
            while data:
                data = data[os.write(write_fd, data):]
        finally:
            os._exit(0)
    os.close(write_fd)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while True:
            ready, _, _ = select.select([read_fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                os.kill(pid, signal.SIGKILL)
                pytest.fail("child timed out")
            chunk = os.read(read_fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read_fd)
        _, status = os.waitpid(pid, 0)
    if not chunks:
        pytest.fail("child died without a result (status %d)" % status)
    answer = json.loads(b"".join(chunks))
    if "error" in answer:
        pytest.fail("child failed:\n" + answer["error"])
    return answer["result"]


@pytest.fixture
def victim():
    """A sibling process, forked from this one, that sleeps until killed."""
    pid = os.fork()
    if pid == 0:
        try:
            while True:
                signal.pause()
        finally:
            os._exit(0)
    yield pid
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def attacks(victim_pid, filtered):
    """Run in a child: (install's answer or None) and each attack's (return value, errno)."""
    lib = libc()
    installed = seccomp.install() if filtered else None
    out = {"installed": installed}
    out["ptrace_attach"] = call(lib.ptrace, PTRACE_ATTACH, victim_pid, None, None)
    if out["ptrace_attach"][0] == 0:
        _, status = os.waitpid(victim_pid, 0)  # the tracer may wait for its tracee
        out["victim_stopped"] = os.WIFSTOPPED(status)
        out["ptrace_detach"] = call(lib.ptrace, PTRACE_DETACH, victim_pid, None, None)
    size = len(SECRET.raw)
    for name, target in (("read_victim", victim_pid), ("read_parent", os.getppid()),
                         ("read_self", os.getpid())):
        local = ctypes.create_string_buffer(size)
        local_iov = Iovec(ctypes.addressof(local), size)
        remote_iov = Iovec(ctypes.addressof(SECRET), size)
        result = call(lib.process_vm_readv, target,
                      ctypes.byref(local_iov), ctypes.c_ulong(1), ctypes.byref(remote_iov),
                      ctypes.c_ulong(1), ctypes.c_ulong(0))
        out[name] = list(result) + [local.raw == SECRET.raw]
    table = X86_64_NR if X86_64 else seccomp.TABLES[seccomp.abi()][4]
    pidfd, _ = call(lib.syscall, ctypes.c_long(PIDFD_OPEN), ctypes.c_long(victim_pid),
                    ctypes.c_long(0))
    out["pidfd_open"] = pidfd >= 0  # allowed either way: only the next call is denied
    if pidfd >= 0:
        out["pidfd_getfd"] = call(lib.syscall, ctypes.c_long(table["pidfd_getfd"]),
                                  ctypes.c_long(pidfd), ctypes.c_long(0), ctypes.c_long(0))
    out["kcmp"] = call(lib.syscall, ctypes.c_long(table["kcmp"]), ctypes.c_long(victim_pid),
                       ctypes.c_long(os.getpid()), ctypes.c_long(KCMP_FILE), ctypes.c_long(0),
                       ctypes.c_long(0))
    if X86_64:  # getpid (39) through the x32 ABI
        out["x32_getpid"] = call(lib.syscall, ctypes.c_long(seccomp.X32_SYSCALL_BIT | 39))
    return out


def test_install_denies_tracing_and_memory_access(victim):
    out = in_child(lambda: attacks(victim, filtered=True))
    assert out["installed"] == [True, ""]
    denied = [-1, errno.EPERM]
    assert out["ptrace_attach"] == denied
    for name in ("read_victim", "read_parent", "read_self"):
        assert out[name] == denied + [False], name
    assert out["pidfd_open"] is True
    assert out["pidfd_getfd"] == denied
    assert out["kcmp"] == denied
    if X86_64:
        assert out["x32_getpid"] == denied


def test_without_filter_the_same_attacks_succeed(victim):
    """The control: as root, an unfiltered child attaches to and reads other processes."""
    status = Path("/proc/self/status").read_text()
    effective = int(re.search(r"^CapEff:\s*([0-9a-f]+)", status, re.M).group(1), 16)
    if os.geteuid() != 0 or not effective & (1 << 19):  # CAP_SYS_PTRACE
        pytest.skip("needs root with CAP_SYS_PTRACE")
    out = in_child(lambda: attacks(victim, filtered=False))
    assert out["ptrace_attach"][0] == 0
    assert out["victim_stopped"] is True
    assert out["ptrace_detach"][0] == 0
    size = len(SECRET.raw)
    for name in ("read_victim", "read_parent", "read_self"):
        assert out[name][0] == size and out[name][2] is True, name
    assert out["pidfd_getfd"][0] >= 0
    assert out["kcmp"][0] >= 0 or out["kcmp"][1] == errno.ENOSYS  # no CONFIG_KCMP
    if X86_64:
        assert out["x32_getpid"][1] != errno.EPERM  # the pid, or ENOSYS without x32 support


def int80_getpid():
    """i386 getpid (20) through int 0x80 from this 64-bit process: its return value."""
    page = mmap.mmap(-1, mmap.PAGESIZE,
                     prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    page.write(b"\xb8\x14\x00\x00\x00\xcd\x80\xc3")  # mov eax, 20; int 0x80; ret
    function = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(page)))
    return function()


@pytest.mark.skipif(not X86_64, reason="int 0x80 from a 64-bit process is x86_64's")
def test_foreign_arch_syscalls_are_denied():
    """i386 syscalls of a 64-bit process (another AUDIT_ARCH, other numbers: i386 ptrace is 26)
    fail; without the filter the same call answers the pid."""
    control = in_child(lambda: [int80_getpid(), os.getpid()])
    if control[0] != control[1]:
        pytest.skip("no ia32 emulation in this kernel")
    out = in_child(lambda: [seccomp.install(), int80_getpid()])
    assert out == [[True, ""], -errno.EPERM]


def ordinary_work(tmp):
    ok, why = seccomp.install()
    out = {"installed": [ok, why]}
    path = os.path.join(tmp, "file.txt")
    with open(path, "w") as handle:
        handle.write("written after install")
    with open(path) as handle:
        out["file"] = handle.read()
    lib = libc()
    pid = os.fork()
    if pid == 0:  # the grandchild inherits the filter: it cannot read its parent
        local = ctypes.create_string_buffer(len(SECRET.raw))
        iovs = [Iovec(ctypes.addressof(buf), len(SECRET.raw)) for buf in (local, SECRET)]
        result, err = call(lib.process_vm_readv, os.getppid(), ctypes.byref(iovs[0]),
                           ctypes.c_ulong(1), ctypes.byref(iovs[1]), ctypes.c_ulong(1),
                           ctypes.c_ulong(0))
        os._exit(7 if (result, err) == (-1, errno.EPERM) else 8)
    out["grandchild"] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    exe = subprocess.run([sys.executable, "-c", "print(open('/proc/self/status').read())"],
                         stdout=subprocess.PIPE, universal_newlines=True, check=True).stdout
    out["exec_seccomp"] = re.search(r"^Seccomp:\s*(\d+)", exe, re.M).group(1)
    import json as json_again
    out["json"] = json_again.loads(json_again.dumps({"a": [1, 2]}))
    import numpy
    out["dot"] = float(numpy.dot(numpy.arange(3.0), numpy.arange(3.0)))
    status = Path("/proc/self/status").read_text()
    out["seccomp"] = re.search(r"^Seccomp:\s*(\d+)", status, re.M).group(1)
    return out


def test_ordinary_work_still_runs(tmp_path):
    if importlib.util.find_spec("numpy") is None:
        pytest.skip("numpy not installed")
    out = in_child(lambda: ordinary_work(str(tmp_path)))
    assert out == {"installed": [True, ""], "file": "written after install", "grandchild": 7,
                   "exec_seccomp": "2", "json": {"a": [1, 2]}, "dot": 5.0, "seccomp": "2"}


def test_unknown_machine_installs_nothing():
    def work():
        seccomp.platform.machine = lambda: "sparc64"  # this child only
        answer = seccomp.install()
        status = Path("/proc/self/status").read_text()
        return [answer, re.search(r"^NoNewPrivs:\s*(\d+)", status, re.M).group(1),
                re.search(r"^Seccomp:\s*(\d+)", status, re.M).group(1)]
    assert in_child(work) == [[False, "no syscall table for sparc64"], "0", "0"]


@pytest.mark.parametrize("machine, expected", [
    ("x86_64", "x86_64"), ("aarch64", "aarch64"), ("s390x", "s390x"), ("ppc64le", "ppc64le"),
    ("ppc64", "ppc64"), ("i686", "i386"), ("i386", "i386"), ("mips64", None), ("riscv64", None)])
def test_abi_by_machine(machine, expected):
    if ctypes.sizeof(ctypes.c_void_p) != 8:
        pytest.skip("64-bit interpreter assumed")
    assert seccomp.abi(machine) == expected


def run_bpf(code, nr, arch):
    """A classic-BPF interpreter for the instructions program() emits, over seccomp_data."""
    data = {seccomp.OFFSET_NR: nr & 0xFFFFFFFF, seccomp.OFFSET_ARCH: arch}
    acc, pc = 0, 0
    while True:
        op, jt, jf, k = code[pc]
        if op == seccomp.BPF_LD_W_ABS:
            acc, pc = data[k], pc + 1
        elif op == seccomp.BPF_JEQ_K:
            pc += 1 + (jt if acc == k else jf)
        elif op == seccomp.BPF_JGE_K:
            pc += 1 + (jt if acc >= k else jf)
        elif op == seccomp.BPF_RET_K:
            return k
        else:
            raise AssertionError("unexpected opcode %#x" % op)


@pytest.mark.parametrize("key", sorted(seccomp.TABLES))
def test_program_semantics(key):
    audit_arch, _, _, _, table, seccomp_nr = seccomp.TABLES[key]
    assert sorted(table) == sorted(seccomp.DENIED)
    numbers = [table[name] for name in seccomp.DENIED]
    assert len(set(numbers)) == len(numbers) and seccomp_nr not in numbers
    code = seccomp.program(audit_arch, numbers, x32=(key == "x86_64"))
    assert len(code) < 4096  # BPF_MAXINSNS
    for nr in range(0, 600):
        expected = seccomp.DENY if nr in numbers else seccomp.SECCOMP_RET_ALLOW
        assert run_bpf(code, nr, audit_arch) == expected, nr
        assert run_bpf(code, nr, audit_arch ^ 0x80000000) == seccomp.DENY  # another arch
    if key == "x86_64":
        assert run_bpf(code, seccomp.X32_SYSCALL_BIT | 39, audit_arch) == seccomp.DENY
        assert run_bpf(code, seccomp.X32_SYSCALL_BIT | 521, audit_arch) == seccomp.DENY
        assert run_bpf(code, seccomp.TABLES["i386"][4]["ptrace"], seccomp.AUDIT_ARCH_I386) \
            == seccomp.DENY


@pytest.mark.parametrize("key, header", [("x86_64", "unistd_64.h"), ("i386", "unistd_32.h")])
def test_tables_match_installed_headers(key, header):
    """Where the kernel's UAPI headers are installed, they agree with the tables."""
    path = Path("/usr/include/x86_64-linux-gnu/asm") / header
    if not path.exists():
        pytest.skip("%s not installed" % path)
    defined = dict((name, int(nr)) for name, nr in
                   re.findall(r"^#define __NR_(\w+) (\d+)$", path.read_text(), re.M))
    table, seccomp_nr = seccomp.TABLES[key][4], seccomp.TABLES[key][5]
    assert {name: defined[name] for name in seccomp.DENIED} == table
    assert defined["seccomp"] == seccomp_nr


def test_install_under_the_oldest_python(oldest_python):
    done = subprocess.run([str(oldest_python), "-c", "from inside.load import seccomp; print(seccomp.install())"],
                          cwd=str(REPO / "harness"), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=30)
    assert (done.returncode, done.stdout.strip(), done.stderr) == (0, "(True, '')", "")


def test_prctl_fallback_where_seccomp_syscall_is_missing(victim):
    """Kernels before 3.17 have no seccomp(2) (ENOSYS): PR_SET_SECCOMP installs the same filter."""
    def work():
        key = seccomp.abi()
        entry = seccomp.TABLES[key]
        seccomp.TABLES[key] = entry[:5] + (99999,)  # this child only: an unknown syscall
        answer = seccomp.install()
        return [answer, call(libc().ptrace, PTRACE_ATTACH, victim, None, None)]
    assert in_child(work) == [[True, ""], [-1, errno.EPERM]]

"""Running one cell in a forked child that cannot reach the loader: own session, memory limit,
timeout, no inherited descriptors, a seccomp filter; every process it started dies with it."""

import faulthandler
import gc
import importlib
import os
import resource
import select
import signal
import sys
import time
import warnings

from . import seccomp

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
CHILD_FAILED = 70       # exit code of a child whose harness code failed (EX_SOFTWARE)
MAX_PAYLOAD = 32 << 20  # bytes a child may return; an honest cell returns a few kB
_POLL = 0.05            # how often a wait also checks whether the child died without a result
_LIBC = None            # libc for prctl, once protect_loader() has found it
# Signals a loader never needs: ignored, so a child that sends them changes nothing. SIGKILL and
# SIGSTOP cannot be ignored; as PID 1 of a container the kernel drops them when they come from
# inside it (a PID namespace's init only receives the signals it has a handler for).
_IGNORED = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM",
            "SIGVTALRM", "SIGPROF", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGPIPE", "SIGXCPU",
            "SIGXFSZ", "SIGWINCH", "SIGCONT", "SIGURG", "SIGIO", "SIGPWR", "SIGTRAP")


def limit_threads_env():
    """One BLAS/OpenMP thread, set before numpy is imported: pools started in the parent do not
    survive a fork (children can deadlock), and the producer computed with one thread too."""
    for name in THREAD_VARIABLES:
        os.environ[name] = "1"
    # Python 3.12+ warns on each fork of a process with threads: onnxruntime's idle pool sleeps
    # on a futex and no child uses it.
    warnings.filterwarnings("ignore", message=r".*use of fork\(\) may lead to deadlocks",
                            category=DeprecationWarning)


def _libc():
    global _LIBC
    if _LIBC is None:
        try:
            import ctypes
            _LIBC = ctypes.CDLL(None, use_errno=True)
        except Exception:  # noqa: BLE001 - no prctl: the protections below are skipped
            _LIBC = False
    return _LIBC or None


def protect_loader():
    """Make the loader unreachable from its children: not dumpable (no ptrace, no /proc/1/mem,
    no /proc/1/fd), signals ignored, orphans reparented here. Returns what could not be done."""
    missing = []
    libc = _libc()
    if libc is None or libc.prctl(4, 0, 0, 0, 0) != 0:  # PR_SET_DUMPABLE 0
        missing.append("not dumpable")
    if libc is None or libc.prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
        missing.append("subreaper")
    for name in _IGNORED:
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # qemu-user hangs writing a core file
    return missing


def is_container_init():
    """True when this process is PID 1: kill(-1) then reaches every other process there."""
    return os.getpid() == 1


# Compiled optional packages that can crash the interpreter on import (onnxruntime's aarch64
# build segfaults under qemu-user): imported in a throwaway child first.
PROBED = ("onnxruntime",)
# {module: why it cannot be used here}, filled by probe_import.
BROKEN = {}


def probe_import(name, timeout=300):
    """Import name in a forked child first; a crash or hang there marks it BROKEN, not the parent."""
    pid = os.fork()
    if pid == 0:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                importlib.import_module(name)
            os._exit(0)
        except BaseException:  # noqa: BLE001 - an ImportError: not installed, handled later
            os._exit(3)
    deadline = time.time() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.time() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            BROKEN[name] = "import %s hung for %ds in this environment" % (name, timeout)
            return False
        time.sleep(0.05)
    if os.WIFSIGNALED(status):
        BROKEN[name] = "import %s crashes this environment (%s)" % (
            name, signal.Signals(os.WTERMSIG(status)).name)
        return False
    return True


# What the parent imports before any cell: the stack and the format libraries.
WARM = ("numpy", "scipy.sparse", "sklearn", "joblib", "cloudpickle", "skops.io", "onnxruntime",
        "threadpoolctl",
        # Experimental estimators are public only after their enabler (0.24).
        "sklearn.experimental.enable_hist_gradient_boosting",
        "sklearn.experimental.enable_iterative_imputer",
        "sklearn.experimental.enable_halving_search_cv")


def warm_up():
    """Import the stack once in the parent so that no child pays for it; threadpoolctl holds
    the pools at one thread where the variables came too late."""
    seccomp.prepare()  # built once here, installed by each child
    for name in PROBED:
        probe_import(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in WARM:
            if name in BROKEN:
                continue
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - optional packages; their formats become n/a
                pass
        for step in (_one_thread, _exercise):
            try:
                step()
            except Exception:  # noqa: BLE001 - only speed depends on it
                pass


def _one_thread():
    from threadpoolctl import threadpool_limits
    threadpool_limits(limits=1)


def _exercise():
    # First calls fill lazy caches that every child would otherwise rebuild (narwhals looks up
    # entry points in sklearn's input validation: 15 ms a cell). Installed code only.
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    X, y = np.arange(24.0).reshape(12, 2), np.arange(12) % 3
    StandardScaler().fit(X).transform(X)
    model = LogisticRegression().fit(X, y)
    for method in ("predict", "predict_proba", "decision_function"):
        getattr(model, method)(X)


def end_every_process(whole_container, pgid, seconds=10.0):
    """Kill what a cell started and reap it: as PID 1 every other process of the container
    (kill(-1) spares only the caller), whatever it did to its group or session; elsewhere the
    cell's process group. Returns False when something still lives after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if whole_container:
                os.kill(-1, signal.SIGKILL)
            else:
                os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
            if not whole_container:
                return True  # children outside the group are reaped by later calls
        except ChildProcessError:
            return True  # no child left: every process of the cell is gone and reaped
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.001)


def _close_inherited(keep):
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        fds = range(3, 1 << 16)
    for fd in fds:
        if fd not in keep:
            try:
                os.close(fd)
            except OSError:
                pass  # the listing's own descriptor, already closed


def _setup_child(memory, log_fd, pipe_fd):
    os.setsid()
    libc = _libc()
    if libc is not None:
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: die if the loader is killed
    for name in _IGNORED + ("SIGINT", "SIGTERM"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # as Python sets it: broken pipes raise
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if memory:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    # Native libraries print to fd 1 and 2: into the cell's log, never the loader's channel.
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    _close_inherited((0, 1, 2, pipe_fd))  # the results channel and every other inherited fd
    try:  # when memory runs out in the container, the kernel kills the cell, not the loader
        with open("/proc/self/oom_score_adj", "w") as fh:
            fh.write("1000")
    except OSError:
        pass
    seccomp.install()  # no ptrace, no cross-process memory calls (where the kernel lets us)
    faulthandler.enable(file=sys.stderr)  # a segfault leaves its Python stack in the log


def run(work, timeout, memory, log_fd, whole_container):
    """Call work() -> bytes in a forked child; returns (payload or None, outcome) where outcome
    is {"timed_out", "signal", "exit_code", "oversize", "survivors"}; every process the child
    started is dead and reaped on return."""
    read_fd, write_fd = os.pipe()
    if hasattr(gc, "freeze"):
        gc.freeze()  # the parent's objects leave the collector: children touch fewer pages
    pid = os.fork()
    if pid == 0:  # the child: never returns into the caller's code
        code, me = CHILD_FAILED, os.getpid()
        try:
            os.close(read_fd)
            _setup_child(memory, log_fd, write_fd)
            payload = work()
            if os.getpid() != me:  # a process the artifact forked came back here: no result
                os._exit(0)
            payload = payload + b"\n"
            while payload:
                payload = payload[os.write(write_fd, payload):]
            code = 0
        except BaseException:  # noqa: BLE001 - the log says why, the exit code that it failed
            if os.getpid() != me:
                os._exit(code)
            import traceback
            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(write_fd)
    try:
        payload, outcome = _collect(pid, read_fd, time.monotonic() + timeout)
    finally:
        os.close(read_fd)
        survivors = not end_every_process(whole_container, pid)
    outcome["survivors"] = survivors
    return payload, outcome


def _wait_exit(pid, deadline):
    delay = 0.0002
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done or time.monotonic() >= deadline:
            return status if done else None
        time.sleep(delay)
        delay = min(delay * 2, _POLL)


def _collect(pid, read_fd, deadline):
    # The end of the line, not the end of the pipe, says the payload is whole: grandchildren
    # may hold the pipe open after the child is gone.
    chunks, size, status, late = [], 0, None, False
    outcome = {"timed_out": False, "signal": None, "exit_code": None, "oversize": False}
    while not (chunks and chunks[-1].endswith(b"\n")):
        if size > MAX_PAYLOAD:
            outcome["oversize"] = True
            break
        left = deadline - time.monotonic()
        if left <= 0:
            late = True
            break
        if select.select([read_fd], [], [], min(left, _POLL))[0]:
            chunk = os.read(read_fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            continue
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:  # dead, while a grandchild holds the pipe open; what it wrote is in the pipe
            while size <= MAX_PAYLOAD and select.select([read_fd], [], [], 0)[0]:
                chunk = os.read(read_fd, 1 << 16)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            break
        status = None
    payload = b"".join(chunks)
    if payload.endswith(b"\n") and not outcome["oversize"]:
        # Only os._exit(0) follows the line: the caller kills what is left.
        outcome["exit_code"] = 0
        return payload[:-1], outcome
    if outcome["oversize"]:
        return None, outcome
    if status is None:
        status = _wait_exit(pid, time.monotonic() if late else deadline)
    if status is None:
        outcome["timed_out"] = True
    elif os.WIFSIGNALED(status):
        outcome["signal"] = os.WTERMSIG(status)
    else:
        outcome["exit_code"] = os.WEXITSTATUS(status)
    return None, outcome

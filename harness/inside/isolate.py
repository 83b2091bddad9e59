"""Running one cell in a forked child (own process group, memory limit, timeout), after the
parent has imported once what the children need."""

import faulthandler
import gc
import importlib
import json
import os
import resource
import select
import signal
import sys
import time
import warnings

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
# Packages whose modules the parent may import for an artifact, having read (never run) it.
ALLOWED = frozenset(("sklearn", "numpy", "scipy", "joblib", "threadpoolctl", "cloudpickle",
                     "skops", "collections", "copyreg", "builtins", "_codecs", "functools",
                     "operator", "_operator", "datetime", "numbers", "enum", "array"))
CHILD_FAILED = 70       # exit code of a child whose harness code failed (EX_SOFTWARE)
_MAX_RESULT = 1 << 24   # no honest result line is longer
_POLL = 0.05            # how often a wait also checks whether the child died without a result
_IMPORTED = {}          # module -> warnings its first import raised, replayed for every cell
_LIBC = None            # libc for prctl, once become_subreaper() has found it


def limit_threads_env():
    """One BLAS/OpenMP thread, set before numpy is imported: pools started in the parent do not
    survive a fork (children can deadlock), and the producer computed with one thread too."""
    for name in THREAD_VARIABLES:
        os.environ[name] = "1"
    # Python 3.12+ warns on each fork of a process with threads: onnxruntime's idle pool sleeps
    # on a futex and no child uses it.
    warnings.filterwarnings("ignore", message=r".*use of fork\(\) may lead to deadlocks",
                            category=DeprecationWarning)


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
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
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


def warm_up():
    """Import the stack once in the parent so that no child pays for it; threadpoolctl holds
    the pools at one thread where the variables came too late."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # qemu-user hangs writing a core file
    for name in PROBED:
        probe_import(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in ("numpy", "scipy.sparse", "sklearn", "joblib", "cloudpickle", "skops.io",
                     "onnxruntime", "threadpoolctl",
                     # Experimental estimators are public only after their enabler (0.24).
                     "sklearn.experimental.enable_hist_gradient_boosting",
                     "sklearn.experimental.enable_iterative_imputer",
                     "sklearn.experimental.enable_halving_search_cv"):
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


def preload(path, fmt):
    """Import the allow-listed modules an artifact names; returns the warnings their first
    import raised (a fresh process would have seen them while loading)."""
    from .loaders import artifact_modules  # numpy: only after limit_threads_env()

    caught_all = []
    for name in sorted(n for n in artifact_modules(path, fmt) if n.split(".")[0] in ALLOWED):
        if name not in _IMPORTED:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    importlib.import_module(name)
                except Exception:  # noqa: BLE001 - e.g. a moved private module: the child says
                    pass
            _IMPORTED[name] = list(caught)
        caught_all.extend(_IMPORTED[name])
    return caught_all


def become_subreaper():
    """Have orphaned grandchildren reparented here (Linux), so they are reaped even when this
    is PID 1 of a container; harmless where prctl is missing."""
    global _LIBC
    try:
        import ctypes
        _LIBC = ctypes.CDLL(None)
        _LIBC.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except Exception:  # noqa: BLE001
        _LIBC = None


def reap(block_seconds=0.0):
    """Collect exited children and reparented orphans (no zombies), waiting at most
    block_seconds for the ones still dying."""
    deadline = time.monotonic() + block_seconds
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                if time.monotonic() >= deadline:
                    return
                time.sleep(0.01)
        except ChildProcessError:
            return


def _kill_group(pgid):
    # The child called setsid(): its pid names the group of everything it forked (a fork in
    # flight when the group is signalled is aborted by the kernel).
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _setup_child(memory, log_fd, close_fds):
    os.setsid()
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: die if the loader is killed
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if memory:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    for fd in close_fds:
        os.close(fd)
    try:  # when memory runs out in the container, the kernel kills the cell, not the loader
        with open("/proc/self/oom_score_adj", "w") as fh:
            fh.write("1000")
    except OSError:
        pass
    # Native libraries print to fd 1 and 2: into the cell's log, not the progress output.
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    faulthandler.enable(file=sys.stderr)  # a segfault leaves its Python stack in the log


def run(work, timeout, memory, log_fd, close_fds=()):
    """Call work() in a forked child; returns (its JSON-able result or None, outcome) where
    outcome is {"timed_out": bool, "signal": int or None, "exit_code": int or None}."""
    read_fd, write_fd = os.pipe()
    if hasattr(gc, "freeze"):
        gc.freeze()  # the parent's objects leave the collector: children touch fewer pages
    pid = os.fork()
    if pid == 0:  # the child: never returns into the caller's code
        code, me = CHILD_FAILED, os.getpid()
        try:
            os.close(read_fd)
            _setup_child(memory, log_fd, close_fds)
            result = work()
            if os.getpid() != me:  # a process the artifact forked came back here: no result
                os._exit(0)
            line = json.dumps(result, allow_nan=True, default=str).encode("utf-8") + b"\n"
            while line:
                line = line[os.write(write_fd, line):]
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
        return _collect(pid, read_fd, time.monotonic() + timeout)
    finally:
        _kill_group(pid)  # whatever the cell left behind, e.g. forked daemons
        os.close(read_fd)
        reap()


def _wait_exit(pid, deadline):
    delay = 0.0002
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done or time.monotonic() >= deadline:
            return status if done else None
        time.sleep(delay)
        delay = min(delay * 2, _POLL)


def _collect(pid, read_fd, deadline):
    # The end of the line, not the end of the pipe, says the result is whole: grandchildren
    # may hold the pipe open after the child is gone.
    buf, status, late = b"", None, False
    while not buf.endswith(b"\n") and len(buf) <= _MAX_RESULT:
        left = deadline - time.monotonic()
        if left <= 0:
            late = True
            break
        if select.select([read_fd], [], [], min(left, _POLL))[0]:
            chunk = os.read(read_fd, 1 << 16)
            if not chunk:
                break
            buf += chunk
            continue
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:  # dead, while a grandchild holds the pipe open; what it wrote is in the pipe
            if select.select([read_fd], [], [], 0)[0]:
                buf += os.read(read_fd, 1 << 20)
            break
        status = None
    outcome = {"timed_out": False, "signal": None, "exit_code": None}
    if buf.endswith(b"\n"):
        try:
            # Only os._exit(0) follows the line: the caller kills the group and its exit is
            # reaped later, so the child's teardown overlaps the next cell.
            return json.loads(buf.decode("utf-8")), dict(outcome, exit_code=0)
        except ValueError:
            pass
    if status is None:
        status = _wait_exit(pid, time.monotonic() if late else deadline)
    if status is None:
        _kill_group(pid)
        os.waitpid(pid, 0)
        outcome["timed_out"] = True
    elif os.WIFSIGNALED(status):
        outcome["signal"] = os.WTERMSIG(status)
    else:
        outcome["exit_code"] = os.WEXITSTATUS(status)
    return None, outcome

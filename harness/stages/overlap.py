"""Build, dump and load with native and emulated work side by side: emulated environments build
and dump in a lane of their own (one slot), while the other slots build, dump and load the native
ones; each consumer loads what is dumped when it starts, the native ones again once the emulated
dumps are done (beside the emulated consumers' loads), then the native slots take batches of the
emulated consumers' cells, and a last pass checks that nothing is left. No native load waits for an emulated build, and no slot idles while the last emulated dump
runs.

A producer is only loaded from once its dump finished in this run (or was current): a dump that
is being made anew has no manifest, and a loader never sees its half-written folder.
"""

import threading
import time

from ..core.platforms import HOST_ARCH
from .load import Helpers
from ..config.matrix import narrowed


def worth_it(run):
    """Whether the matrix has emulated and native environments and at least two slots."""
    arches = {env.arch == HOST_ARCH for env in run.matrix.envs}
    return run.jobs >= 2 and arches == {True, False}


class _Lane(threading.Thread):
    """The emulated environments, one at a time: build, dump, then (once every native dump is
    done) their own loads."""

    def __init__(self, run, envs, natives_dumped, dumped, say):
        threading.Thread.__init__(self, name="emulated lane", daemon=True)
        self.run_, self.envs, self.natives_dumped, self.dumped, self.say = run, envs, natives_dumped, dumped, say
        self.emulated_dumped = threading.Event()
        self.finished = threading.Event()
        self.error = None
        self.seconds = {}

    def run(self):
        try:
            run, one = self.run_, narrowed(self.run_.matrix, self.envs)
            began = time.monotonic()
            run.build(one, jobs=1)
            self.seconds["emulated build"] = round(time.monotonic() - began, 1)
            began = time.monotonic()
            for env in self.envs:  # one by one: each becomes a producer as soon as it is done
                if all(r.ok for r in run.dump(narrowed(run.matrix, [env]), jobs=1)):
                    self.dumped.add(env.id)
            self.seconds["emulated dump"] = round(time.monotonic() - began, 1)
            self.emulated_dumped.set()
            self.natives_dumped.wait()
            began = time.monotonic()
            run.load(one, producers=set(self.dumped), jobs=1)
            self.seconds["emulated load"] = round(time.monotonic() - began, 1)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread, which goes on
            self.error = exc
        finally:
            self.emulated_dumped.set()  # the native lane never waits on a lane that stopped
            self.finished.set()


def run(run_, say):
    """The build, dump and load stages overlapped; returns the load results of the last pass
    and records each lane's seconds in run_.overlap_seconds."""
    matrix = run_.matrix
    native = [env for env in matrix.envs if env.arch == HOST_ARCH]
    emulated = [env for env in matrix.envs if env.arch != HOST_ARCH]
    natives_dumped, dumped = threading.Event(), set()
    lane = _Lane(run_, emulated, natives_dumped, dumped, say)
    say(f"overlap: {len(emulated)} emulated environments build and dump on one slot while "
        f"{len(native)} native ones use the other {run_.jobs - 1}")
    slots = run_.jobs - 1
    seconds = {}
    run_.helpers = Helpers()
    lane.start()
    try:
        began = time.monotonic()
        run_.build(narrowed(matrix, native), jobs=slots)
        seconds["native build"] = round(time.monotonic() - began, 1)
        began = time.monotonic()
        for result in run_.dump(narrowed(matrix, native), jobs=slots):
            if result.ok:
                dumped.add(result.env_id)
        seconds["native dump"] = round(time.monotonic() - began, 1)
        natives_dumped.set()
        began = time.monotonic()
        run_.load(narrowed(matrix, native), producers=set(dumped), jobs=slots)
        seconds["native load"] = round(time.monotonic() - began, 1)
        lane.emulated_dumped.wait()
        began = time.monotonic()  # the emulated producers, beside the emulated consumers' loads
        run_.load(narrowed(matrix, native), producers=set(dumped), jobs=slots)
        seconds["native load of emulated dumps"] = round(time.monotonic() - began, 1)
        began = time.monotonic()  # nothing native is left: this slot shares the emulated loads
        run_.helpers.help(part=1, until=lane.finished)
        seconds["helping emulated loads"] = round(time.monotonic() - began, 1)
        lane.join()
    except BaseException:
        natives_dumped.set()
        run_.helpers = None
        run_.stop_all()  # the lane's containers too: an interrupt ends the whole run
        raise
    run_.helpers = None
    if lane.error is not None:
        raise lane.error
    began = time.monotonic()
    say("overlap: last pass, every consumer against every producer dumped (nothing should be left)")
    results = run_.load()  # what was dumped after a consumer's pass; nothing else is left
    seconds["last pass"] = round(time.monotonic() - began, 1)
    run_.overlap_seconds = dict(seconds, **lane.seconds)
    say("overlap: " + ", ".join(f"{name} {value:.0f}s" for name, value in run_.overlap_seconds.items()))
    return results

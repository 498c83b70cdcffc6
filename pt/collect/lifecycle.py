"""Follow births and exits of every process many times a second, on a thread.

:class:`LifeWatch` seeds a :class:`pt.collect._lifecycle.LifeSampler` with a
full read of the table and ticks it every :data:`TICK_S` seconds until
:meth:`LifeWatch.stop`: each tick lists the pids and reads only the new
ones, a few milliseconds at 2,000 processes where a full read takes
hundreds (docs/model.md, Lifecycle incidents). The kernel's fork counter is
read when the watch starts and when it stops, so births no tick saw can be
counted (:func:`pt.infer.incidents.unseen_births`).
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

#: Pause between two ticks (seconds): a tick costs a few ms, so ~40 a second.
TICK_S = 0.02
#: Every this many ticks, also re-read the stat of every known pid (a pid
#: reused between two ticks); the first tick after the seed always does.
VERIFY_EVERY = 50


@dataclass(frozen=True)
class Followed:
    """What a watch saw: ``lives`` (:meth:`LifeSampler.lives` columns), the
    fork counter's rise ``forks`` (-1: not readable) from ``forks_span[0]`` to
    ``forks_span[1]`` (seconds on ``CLOCK_BOOTTIME``, the clock of start
    times), and ``missed``: new pids gone or unreadable before their stat was."""

    lives: dict
    forks: int
    forks_span: tuple[float, float]
    missed: int

    @property
    def ticks(self) -> int:
        return len(self.lives["times"])


class LifeWatch:
    """Ticks a lifecycle sampler on a thread, from :meth:`start` (given the
    first full read of the table) until :meth:`stop`, which raises what
    stopped the thread (an unreadable procfs), if anything."""

    def __init__(self, root: str | os.PathLike | None = None, tick_s: float = TICK_S):
        from pt.collect.host import procfs_root
        self.path = os.fsencode(procfs_root(root))
        self.tick_s = tick_s
        self.failure: Exception | None = None
        self._sampler = None
        self._forks_at: tuple[int, float] = (-1, 0.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self, snapshot) -> None:
        from pt.collect._lifecycle import LifeSampler
        sampler = LifeSampler(self.path)
        sampler.seed(snapshot["pid"], snapshot["ppid"], snapshot["start_ticks"], snapshot["kernel_thread"],
                     snapshot["comm"], snapshot["cmdline"], snapshot.host.monotonic)
        self._sampler = sampler
        self._forks_at = (sampler.forks(), time.clock_gettime(time.CLOCK_BOOTTIME))
        self._thread.start()

    def _run(self) -> None:
        try:
            k = 0
            while not self._stop.wait(self.tick_s):
                self._sampler.tick(verify=k % VERIFY_EVERY == 0)
                k += 1
        except Exception as exc:           # noqa: BLE001 -- handed to the caller by stop()
            self.failure = exc

    def stop(self) -> Followed:
        """Stop ticking, take a last tick, and return what was followed."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        if self.failure is not None:
            raise self.failure
        if self._sampler is None:
            raise RuntimeError("the watch was never started")
        self._sampler.tick()
        forks, at = self._sampler.forks(), time.clock_gettime(time.CLOCK_BOOTTIME)
        before, since = self._forks_at
        rise = forks - before if forks >= 0 and before >= 0 and forks >= before else -1
        return Followed(self._sampler.lives(), rise, (since, at), self._sampler.missed)

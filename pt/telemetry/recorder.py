"""Record a scan so that telemetry costs the scan as little time and memory as possible.

``pt scan`` makes a :class:`Recorder` before it starts and, once the verdicts
are in, calls :meth:`Recorder.start`: a forked child imports the writer
(pyarrow: ~60 ms of import and ~55 MB of memory that the scan itself then
never carries), redacts and writes the tables, and sends its
:class:`~pt.telemetry.result.TelemetryResult` back through a pipe, while the
scan renders its output on the other CPU (a thread would take turns with the
rendering for the GIL). :meth:`Recorder.result` waits for the child. Where
``os.fork`` is missing the write runs on a thread instead; in-process
callers can also redact early on a thread (:meth:`Recorder.prepare`, during
the CPU window), and the write then stays on that thread. Nothing here
raises: every failure ends up in the result.

This module imports neither pyarrow nor duckdb.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import threading

from pt.telemetry.result import TelemetryResult


class Recorder:
    """One scan's telemetry: :meth:`prepare` (pass it to ``triage(on_snapshot=...)``),
    then :meth:`record` or :meth:`start` + :meth:`result`."""

    def __init__(self, lake: str | os.PathLike | None = None, *, red=None, procfs=None):
        self.lake, self.red, self.procfs = lake, red, procfs
        self.error: str | None = None
        self.prepared = None
        self._result: TelemetryResult | None = None
        self._threads: list[threading.Thread] = []
        self._child: tuple[int, int] | None = None       # (pid, read end of its pipe)

    def _spawn(self, target, *args) -> None:
        previous = list(self._threads)

        def run():
            for thread in previous:          # each step after the ones before it
                thread.join()
            try:
                target(*args)
            except Exception as exc:   # noqa: BLE001 - reported in the result, never raised
                self.error = self.error or f"{type(exc).__name__}: {exc}"

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        self._threads.append(thread)

    def prepare(self, snapshot) -> None:
        """Redact ``snapshot``'s command lines, user names and comms now (on the
        recorder's thread), so the write after the scan finds them memoised."""
        self._spawn(self._prepare, snapshot)

    def _prepare(self, snapshot) -> None:
        from pt.telemetry.writer import prepare
        self.prepared = prepare(snapshot, self.red)
        self.red = self.prepared.red

    def start(self, triage=None, *, snapshot=None, scan_s: float | None = None) -> None:
        """Write the scan in a forked child (on the recorder's thread if it
        has one, or without ``os.fork``); :meth:`result` waits for it."""
        if self._threads or not hasattr(os, "fork"):
            self._spawn(self._write, triage, snapshot, scan_s)
            return
        for stream in (sys.stdout, sys.stderr):          # so the child has nothing of theirs to repeat
            stream.flush()
        read_end, write_end = os.pipe()
        try:
            pid = os.fork()
        except OSError as exc:
            os.close(read_end)
            os.close(write_end)
            self.error = f"could not start the telemetry writer: {exc.strerror or exc}"
            return
        if pid == 0:                                      # the child: write, report, never return
            try:
                os.close(read_end)
                try:
                    self._write(triage, snapshot, scan_s)
                except Exception as exc:   # noqa: BLE001 - reported in the result, never raised
                    self.error = f"{type(exc).__name__}: {exc}"
                with os.fdopen(write_end, "w") as pipe:
                    pipe.write(json.dumps(dataclasses.asdict(self._result) if self._result else
                                          {"lake": str(self.lake or "?"),
                                           "reason": self.error or "telemetry was not written"}))
            finally:
                os._exit(0)
        os.close(write_end)
        self._child = (pid, read_end)

    def _collect_child(self) -> None:
        """Read the forked writer's result and reap it."""
        pid, read_end = self._child
        self._child = None
        with os.fdopen(read_end, "r") as pipe:
            sent = pipe.read()
        os.waitpid(pid, 0)
        try:
            self._result = TelemetryResult(**json.loads(sent))
        except (ValueError, TypeError):
            self.error = self.error or "the telemetry writer exited without a result"

    def _write(self, triage, snapshot, scan_s) -> None:
        from pt.telemetry.writer import write_scan
        self._result = write_scan(triage, snapshot=snapshot, lake=self.lake, red=self.red, scan_s=scan_s,
                                  procfs=self.procfs, prepared=self.prepared, follow=True)

    def result(self) -> TelemetryResult:
        if self._child is not None:
            self._collect_child()
        for thread in self._threads:
            thread.join()
        if self._result is None:
            self._result = TelemetryResult(lake=str(self.lake or "?"),
                                           reason=self.error or "telemetry was not written")
        return self._result

    def record(self, triage=None, *, snapshot=None, scan_s: float | None = None) -> TelemetryResult:
        """Write the scan and wait for it."""
        self.start(triage, snapshot=snapshot, scan_s=scan_s)
        return self.result()

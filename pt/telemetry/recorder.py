"""Record a scan while it runs, so telemetry costs the scan as little wall time as possible.

``pt scan`` makes a :class:`Recorder` before it starts. When the snapshot is
taken, the recorder imports the writer (pyarrow, ~60 ms with numpy already
loaded) and redacts the command lines on its thread while the CPU window is
open: the scan mostly sleeps then, so the work costs no wall time (started
earlier, during collection, it would only take turns with it for the GIL).
After the scan it writes the tables (not on a thread while the table
renders: Rich and the writer's Python steps would take turns for the GIL and
both run slower; measured, that cost more than writing first). Nothing here raises: every
failure ends up in the :class:`~pt.telemetry.result.TelemetryResult`.

This module imports neither pyarrow nor duckdb.
"""
from __future__ import annotations

import os
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
        """Write the scan on the recorder's thread; :meth:`result` waits for it."""
        self._spawn(self._write, triage, snapshot, scan_s)

    def _write(self, triage, snapshot, scan_s) -> None:
        from pt.telemetry.writer import write_scan
        self._result = write_scan(triage, snapshot=snapshot, lake=self.lake, red=self.red, scan_s=scan_s,
                                  procfs=self.procfs, prepared=self.prepared, follow=True)

    def result(self) -> TelemetryResult:
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

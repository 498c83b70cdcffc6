"""Record a scan so that telemetry costs the scan as little time and memory as possible.

``pt scan`` makes a :class:`Recorder` before it starts. When the process
table is read, :meth:`Recorder.begin` forks the writer: the child redacts
the command lines while the CPU window runs, on the other CPU. It writes
with pt's own Parquet writer (:mod:`pt.telemetry.parquet`): no process of a
scan imports pyarrow (~0.2 s of CPU and ~80 MB resident). Once the
posteriors are in, :meth:`Recorder.early` hands them to the child, which
encodes what they decide while the scan decides; once the verdicts are in,
:meth:`Recorder.start` hands it the rest (~2.7 MB in all at 2,000
processes, arrays and pickles in memory shared at the fork, only frames
naming them through a pipe). The child writes the tables while
the scan renders its output (a thread would take turns with the rendering
for the GIL) and sends its :class:`~pt.telemetry.result.TelemetryResult`
back through a pipe; :meth:`Recorder.result` waits for it. A child that is
sent nothing exits without writing. Where ``os.fork`` is missing, or other
threads run (forking them is unsafe), the work runs on a thread instead, as it does for in-process callers that use
:meth:`Recorder.prepare`. Nothing here raises: every failure ends up in the
result.

This module imports neither pyarrow nor duckdb.
"""
from __future__ import annotations

import dataclasses
import json
import mmap
import os
import sys
import threading

from pt.telemetry.result import TelemetryResult

#: Longest wait for the writer once the scan is done (it takes well under a
#: second; a lake on a hung mount must not hang the scan that uses it).
WAIT_S = 60.0


class Recorder:
    """One scan's telemetry: :meth:`begin` or :meth:`prepare` (pass it to
    ``triage(on_snapshot=...)``), :meth:`early` if forked (``on_posteriors``),
    then :meth:`record` or :meth:`start` + :meth:`result`."""

    def __init__(self, lake: str | os.PathLike | None = None, *, red=None, procfs=None):
        self.lake, self.red, self.procfs = lake, red, procfs
        self.error: str | None = None
        self.prepared = None
        self._result: TelemetryResult | None = None
        self._threads: list[threading.Thread] = []
        self._child: tuple[int, int, int] | None = None   # (pid, its result pipe, its inbox)
        self._shared = None                               # memory shared with the child (mmap)
        self._forked_with = None                          # the snapshot the child was forked holding
        self._posteriors = None                           # what early() sent: (window, evidence, context, inference)
        self._shared_at = 0                               # the next free byte of self._shared

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

    def load(self) -> None:
        """Import the writer's modules now: ``pt scan`` calls this while its
        reads run, where the main thread has time to spare, so the child
        forked later has them (~10 ms of imports it no longer makes while the
        scan closes its window on both CPUs of a small machine)."""
        import encodings.cp437  # noqa: F401 - the codec zipfile names its members in
        import zipfile  # noqa: F401 - np.load/np.savez of the watch list import it on first use

        import pt.telemetry.writer  # noqa: F401

    def prepare(self, snapshot) -> None:
        """Redact ``snapshot``'s command lines, user names and comms now (on the
        recorder's thread), so the write after the scan finds them memoised."""
        self._spawn(self._prepare, snapshot)

    def _prepare(self, snapshot) -> None:
        from pt.telemetry.writer import prepare
        self.prepared = prepare(snapshot, self.red)
        self.red = self.prepared.red

    def begin(self, snapshot) -> None:
        """Fork the writer now (pass this to ``triage(on_snapshot=...)``): the
        child redacts ``snapshot`` on the other CPU while
        the window runs, then waits for :meth:`start` to send it the verdicts.
        Without ``os.fork``, :meth:`prepare` does the redaction on a thread."""
        if not _can_fork():
            self.prepare(snapshot)
            return
        self._fork(lambda inbox: self._child_main(snapshot, inbox), len(snapshot))
        if self._child is not None:
            self._forked_with = snapshot

    def early(self, window, evidence, context, inference) -> None:
        """Hand the forked writer a scan's posteriors before its verdicts (pass
        this to ``triage(on_posteriors=...)``): the child encodes what they
        decide while the scan decides, and :meth:`start` does not send them
        again. Without a forked writer, or if they cannot be sent, it does
        nothing (:meth:`start` sends everything)."""
        if self._child is None or self._child[2] < 0 or self._posteriors is not None:
            return
        parts = (window, evidence, context, inference)
        try:
            message, self._shared_at = _pack(parts, self._shared, self._shared_at)
        except Exception:   # noqa: BLE001 - unpicklable: start() sends the whole scan and reports it
            return
        # Only a frame small enough for the empty pipe: one that does not fit in the shared memory
        # would block the scan while the child is still redacting; start() sends it all instead.
        if len(message) <= EARLY_FRAME_MAX and _send_frame(self._child[2], b"E", message):
            self._posteriors = parts

    def start(self, triage=None, *, snapshot=None, scan_s: float | None = None) -> None:
        """Write the scan: send it to the child :meth:`begin` forked, else fork
        one now (or, after :meth:`prepare` or without ``os.fork``, write on the
        recorder's thread); :meth:`result` waits for it."""
        if self._child is None and (self._threads or not _can_fork()):
            self._spawn(self._write, triage, snapshot, scan_s)
            return
        if self._child is None:
            # Forked now, the child holds the scan in its memory already: nothing is sent.
            self._fork(lambda inbox: self._write(triage, snapshot, scan_s))
            if self._child is not None:
                pid, result_r, inbox_w = self._child
                os.close(inbox_w)
                self._child = (pid, result_r, -1)
            return
        pid, result_r, inbox_w = self._child
        if inbox_w < 0:                                   # handed over already: a write is one hand-over
            return
        self._child = (pid, result_r, -1)
        try:
            # What the child holds already is not sent again: the snapshot it was forked with
            # (~2 ms less to pack and unpack), the posteriors early() sent.
            held = snapshot is not None and snapshot is self._forked_with \
                and (triage is None or triage.snapshot is snapshot)
            if held:
                triage, snapshot = None if triage is None else dataclasses.replace(triage, snapshot=None), None
            posteriors = triage is not None and self._posteriors is not None and all(
                a is b for a, b in zip(self._posteriors, triage.posteriors()))
            if posteriors:
                from pt.triage import POSTERIORS
                triage = dataclasses.replace(triage, **dict.fromkeys(POSTERIORS))
            message, self._shared_at = _pack((triage, snapshot, scan_s, held, posteriors), self._shared,
                                             self._shared_at)
            if not _send_frame(inbox_w, b"V", message):
                raise BrokenPipeError(32, "the writer is gone")
        except Exception as exc:   # noqa: BLE001 - the child gone (EPIPE), or the scan unpicklable
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else f"{type(exc).__name__}: {exc}"
            self.error = f"could not hand the scan to the telemetry writer: {reason}"
        finally:
            os.close(inbox_w)                             # whatever happened: the child then ends
            if self._shared is not None:
                self._shared.close()                      # the child's mapping stays
                self._shared = None

    def _fork(self, child_main, rows: int = 0) -> None:
        """Fork a child running ``child_main(inbox_fd)``, sharing memory for
        the verdicts of ``rows`` processes (none: nothing will be sent);
        keeps (pid, its result pipe, its inbox) in ``self._child``."""
        for stream in (sys.stdout, sys.stderr):          # so the child has nothing of theirs to repeat
            stream.flush()
        self._shared = None
        if rows:
            try:                                          # pages are only allocated where written
                self._shared = mmap.mmap(-1, SHARED_BYTES + rows * SHARED_BYTES_PER_ROW)
            except (OSError, ValueError, OverflowError):  # no memory to map: the pipe carries everything
                pass
            else:
                _populate(self._shared, rows * EXPECTED_BYTES_PER_ROW)
        inbox_r, inbox_w = os.pipe()
        result_r, result_w = os.pipe()
        try:
            pid = os.fork()
        except OSError as exc:
            for fd in (inbox_r, inbox_w, result_r, result_w):
                os.close(fd)
            self.error = f"could not start the telemetry writer: {exc.strerror or exc}"
            return
        if pid == 0:                                      # the child: write, report, never return
            try:
                os.close(inbox_w)
                os.close(result_r)
                try:
                    child_main(inbox_r)
                except Exception as exc:   # noqa: BLE001 - reported in the result, never raised
                    self.error = self.error or f"{type(exc).__name__}: {exc}"
                if self._result is not None or self.error is not None:
                    with os.fdopen(result_w, "w") as pipe:
                        pipe.write(json.dumps(dataclasses.asdict(self._result) if self._result else
                                              {"lake": str(self.lake or "?"), "reason": self.error}))
            finally:
                os._exit(0)
        os.close(inbox_r)
        os.close(result_w)
        self._child = (pid, result_r, inbox_w)

    def _child_main(self, snapshot, inbox_fd: int) -> None:
        """In the child: redact ``snapshot`` while the parent scans, then
        write what the parent sends; nothing if it sends nothing."""
        import pickle  # noqa: F401 - imported now, while the window runs
        try:
            self._prepare(snapshot)
        except Exception:   # noqa: BLE001 - the write redacts again, unprepared
            self.prepared = None
        self.load()                                       # a no-op after the scan's own load()
        posteriors = None
        with os.fdopen(inbox_fd, "rb") as inbox:
            while True:
                kind, message = _read_frame(inbox)
                if kind != b"E":
                    break
                posteriors = _unpack(message, self._shared)
                self._prepare_posteriors(posteriors)
        if kind != b"V":                                  # the scan ended without a write
            return
        triage, sent_snapshot, scan_s, held, sent_early = _unpack(message, self._shared)
        if held:                                          # the snapshot this child was forked with
            triage = None if triage is None else dataclasses.replace(triage, snapshot=snapshot)
        else:
            snapshot = sent_snapshot
        if sent_early:                                    # the posteriors early() sent
            from pt.triage import POSTERIORS
            triage = dataclasses.replace(triage, **dict(zip(POSTERIORS, posteriors)))
        snap = triage.snapshot if triage is not None else snapshot
        if self.prepared is not None and _same_rows(self.prepared.snapshot, snap):
            self.prepared = dataclasses.replace(self.prepared, snapshot=snap)
        else:
            self.prepared = None
        self._write(triage, snapshot, scan_s)

    def _prepare_posteriors(self, posteriors) -> None:
        """In the child: encode what ``posteriors`` decide (if the snapshot's
        columns were prepared); a failure leaves it to the write."""
        from pt.telemetry.writer import prepare_posteriors
        if self.prepared is not None:
            try:
                self.prepared = prepare_posteriors(self.prepared, *posteriors)
            except Exception:   # noqa: BLE001 - the write encodes them, unprepared
                pass

    def _collect_child(self) -> None:
        """Read the forked writer's result and reap it; a writer still busy
        after :data:`WAIT_S` is stopped (SIGKILL: a run without its ``runs``
        row is read by no one) and the result says so."""
        import select
        import signal
        pid, result_r, inbox_w = self._child
        self._child = None
        if inbox_w >= 0:
            os.close(inbox_w)                             # nothing sent (no start): the child exits
        with os.fdopen(result_r, "r") as pipe:
            if not select.select([pipe], [], [], WAIT_S)[0]:
                os.kill(pid, signal.SIGKILL)              # our own child, still ours: not reaped yet
                _reap(pid, 1.0)                           # one stuck in the kernel is left to init
                self.error = f"the telemetry writer did not finish within {WAIT_S:g} s and was stopped"
                return
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
            thread.join(WAIT_S)
            if thread.is_alive():
                self.error = self.error or f"the telemetry writer did not finish within {WAIT_S:g} s"
                break
        if self._result is None:
            self._result = TelemetryResult(lake=str(self.lake or "?"),
                                           reason=self.error or "telemetry was not written")
        return self._result

    def record(self, triage=None, *, snapshot=None, scan_s: float | None = None) -> TelemetryResult:
        """Write the scan and wait for it."""
        self.start(triage, snapshot=snapshot, scan_s=scan_s)
        return self.result()


def _can_fork() -> bool:
    """Whether forking the writer is safe: ``os.fork`` exists and no other
    thread runs (a child forked while another thread holds a lock could hang
    on it; Python 3.12 warns of exactly that)."""
    return hasattr(os, "fork") and threading.active_count() == 1


#: Largest message early() sends: its arrays and pickle lie in the shared
#: memory, and the frame naming them (~0.5 kB) goes through the pipe at once.
EARLY_FRAME_MAX = 4096

#: Memory shared with the writer for the verdicts' arrays: a floor, and per
#: process (they take ~1.3 kB each; what does not fit goes through the pipe).
SHARED_BYTES = 1 << 20
SHARED_BYTES_PER_ROW = 4096
EXPECTED_BYTES_PER_ROW = 1536


#: ``madvise`` advice that allocates and maps pages for writing (Linux 5.14;
#: Python names it from 3.13).
MADV_POPULATE_WRITE = getattr(mmap, "MADV_POPULATE_WRITE", 23 if sys.platform == "linux" else None)


def _populate(shared, nbytes: int) -> None:
    """Allocate the first ``nbytes`` of ``shared`` now, in one call (~1.7 ms
    for 3 MB): done before the fork, inside the window, the scan's copy of its
    verdicts after the window then faults no page in (it took 2.3 ms more).
    Where the kernel cannot, the pages are allocated as they are written."""
    if MADV_POPULATE_WRITE is None:
        return
    try:
        shared.madvise(MADV_POPULATE_WRITE, 0, min(nbytes, len(shared)))
    except (OSError, ValueError, AttributeError):
        pass


def _pack(obj, shared, at: int = 0) -> tuple[bytes, int]:
    """``obj`` pickled for the child into ``shared`` from byte ``at``: each
    array's memory copied there while it has room (no copy into the pickle),
    then the pickle itself (none of it through a 64 KiB pipe, where a child
    still busy with an earlier message would stall the scan). Returns the
    message for the pipe (where what does not fit goes) and the next free
    byte."""
    import pickle
    spans = []

    def fits(nbytes: int) -> bool:
        return shared is not None and at + nbytes <= len(shared)

    def place(raw) -> tuple[int, int]:
        nonlocal at
        start, at = at, at + -(-raw.nbytes // 64) * 64   # each 64-byte aligned
        shared[start:start + raw.nbytes] = raw
        return start, raw.nbytes

    def out_of_band(buffer: pickle.PickleBuffer) -> bool:
        raw = buffer.raw()
        if not fits(raw.nbytes):
            return True                                   # in the pickle, as protocol 5 writes it
        spans.append(place(raw))
        return False

    body = pickle.dumps(obj, protocol=5, buffer_callback=out_of_band)
    if fits(len(body)):
        body = place(memoryview(body))
    return pickle.dumps((body, spans), protocol=5), at


def _unpack(message: bytes, shared):
    """What :func:`_pack` packed; the arrays are views of ``shared``."""
    import pickle
    body, spans = pickle.loads(message)
    view = memoryview(shared) if shared is not None and (spans or isinstance(body, tuple)) else None
    if isinstance(body, tuple):
        body = view[body[0]:body[0] + body[1]]
    return pickle.loads(body, buffers=[view[at:at + n] for at, n in spans])


def _send_frame(fd: int, kind: bytes, message: bytes) -> bool:
    """Write one ``kind`` (one byte) message to the child's inbox; False if it is gone."""
    data = memoryview(kind + len(message).to_bytes(8, "little") + message)
    try:
        while data:
            data = data[os.write(fd, data):]
    except OSError:
        return False
    return True


def _read_frame(inbox) -> tuple[bytes | None, bytes | None]:
    """The next ``(kind, message)`` :func:`_send_frame` wrote; ``(None, None)``
    at the end of the inbox or at a frame cut short."""
    head = inbox.read(9)
    if len(head) < 9:
        return None, None
    n = int.from_bytes(head[1:], "little")
    message = inbox.read(n)
    return (head[:1], message) if len(message) == n else (None, None)


def _reap(pid: int, within_s: float) -> None:
    """Reap the child ``pid`` if it exits within ``within_s`` seconds."""
    import time
    deadline = time.monotonic() + within_s
    while not os.waitpid(pid, os.WNOHANG)[0] and time.monotonic() < deadline:
        time.sleep(0.01)


def _same_rows(a, b) -> bool:
    """Whether two snapshots hold the same processes in the same rows."""
    import numpy as np
    return len(a) == len(b) and all(np.array_equal(a[k], b[k]) for k in ("pid", "start_ticks"))

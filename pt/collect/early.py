"""A quick scan's procfs reads, started on a thread before the rest of pt loads.

A scan spends about as long importing numpy and pt's model as it spends
reading every process's files: the table (stat, status, cmdline), the CPU
window's first reads (io, schedstat, with the files kept open for the
second) and the files the evidence needs (cwd, the fd directory, cgroup).
The readers run in C without the GIL and without numpy
(:class:`~pt.collect._procfs.TableRead`, :class:`~pt.collect._procfs.ProcessFiles`,
:meth:`~pt.collect._procfs.WindowFiles.read_first`), so :class:`FirstReads`
runs them on a thread while the main thread imports, and the CPU window opens
at the start of the run instead of after the imports. This module imports no
numpy; :func:`pt.triage.triage` takes the reads over (``first=``).
"""
from __future__ import annotations

import contextlib
import os
import threading

from pt.collect._procfs import WINDOW_FILES, ProcessFiles, TableRead, WindowFiles
from pt.collect.fds import fd_budget, grow_fd_table, open_fd_count, raised_soft_limit
from pt.collect.host import read_clock

#: Descriptors the raised limit leaves for files opened between counting and
#: keeping (fd_budget counts again): without it one such file cost a row.
WINDOW_FD_SLACK = 16


def window_fd_budget(rows: int, stack: contextlib.ExitStack) -> int:
    """Descriptors the window may keep for ``rows`` processes: the soft fd
    limit is raised toward what they need (within ``stack``, which puts it
    back); rows beyond the budget are read by pid."""
    need = len(WINDOW_FILES) * rows
    open_now = open_fd_count() + WINDOW_FD_SLACK
    stack.enter_context(raised_soft_limit(open_now + need + max(64, (open_now + need) // 7 + 8)))
    budget = min(fd_budget()[0], need)
    grow_fd_table(open_now + budget)
    return budget


def keep_window_files(path: bytes, pids, stack: contextlib.ExitStack) -> WindowFiles:
    """:class:`WindowFiles` for ``pids`` (int32), keeping as many rows' files
    open as :func:`window_fd_budget` allows. The caller closes the files
    (``stack.enter_context``) and takes their first reads (``read_first``)."""
    return WindowFiles(path, pids, window_fd_budget(len(pids), stack))


class FirstReads:
    """The quick scan's reads of every process, running on a thread from
    construction: :meth:`wait` for them, :meth:`close` to give back the kept
    files and the raised fd limit (the window does, once it has them)."""

    def __init__(self, root: str | os.PathLike):
        self.root = root
        self.path = os.fsencode(root)
        self.stack = contextlib.ExitStack()                     # the window files and the fd limit
        self.window_files: WindowFiles | None = None            # with their first reads, after wait()
        self._error: BaseException | None = None
        # What needs Python is done here, so the thread runs one call without the GIL.
        try:
            self.clock = read_clock(root)                       # when the snapshot is taken
            self.table = TableRead(self.path)
            self.stack.callback(self.table.close)
            budget = window_fd_budget(self.table.count(), self.stack)
            self.files = ProcessFiles(self.path)
            self.stack.callback(self.files.close)
        except BaseException:
            self.stack.close()
            raise
        self._thread = threading.Thread(target=self._read, args=(budget,), name="pt-first-reads", daemon=True)
        self._thread.start()

    def _read(self, budget: int) -> None:
        try:
            self.table.read(budget, self.files)
        except BaseException as exc:   # noqa: BLE001 - raised again by wait(), in the caller's thread
            self._error = exc

    def wait(self) -> FirstReads:
        """Wait for the reads; raise what they raised (after closing what they kept)."""
        self._thread.join()
        if self._error is not None:
            self.stack.close()
            raise self._error
        if self.window_files is None:
            self.window_files = self.stack.enter_context(self.table.window_files())
        return self

    def close(self) -> None:
        """Close the kept files and the readers' roots, and put the fd limit
        back (idempotent; what was read stays readable)."""
        self._thread.join()
        self.stack.close()


#: The reads :func:`begin` started for the next :func:`reading` to take.
_begun: FirstReads | None = None


def begin() -> None:
    """Start the reads now, for the next ``reading()`` to take: ``pt``'s first
    step when its command line names a command that reads first
    (:mod:`pt.__main__`), so that the CPU window opens ~20 ms sooner, before
    pt's command line is parsed. Reads no command takes are closed by
    :func:`discard`; a failure to start is left for ``reading()`` to raise
    (it tries again, where the command reports errors)."""
    global _begun
    discard()
    try:
        _begun = start()
    except Exception:      # noqa: BLE001 - reading() starts again and raises it where it is reported
        _begun = None


def discard() -> None:
    """Close the reads :func:`begin` started if no ``reading()`` took them
    (the command line was wrong, or asked for no reads)."""
    global _begun
    first, _begun = _begun, None
    if first is not None:
        first.close()


@contextlib.contextmanager
def reading(root: str | os.PathLike | None = None):
    """:func:`start`, closed on leaving the block: a command's first step, so
    that its imports run while the reads do (``triage(first=...)``); the
    reads :func:`begin` started, if any (and ``root`` is the default)."""
    global _begun
    first = None
    if root is None:
        first, _begun = _begun, None
    if first is None:
        first = start(root)
    try:
        yield first
    finally:
        if first is not None:
            first.close()


def start(root: str | os.PathLike | None = None) -> FirstReads | None:
    """Start a quick scan's reads of the procfs at ``root`` (``$PT_PROCFS_PATH``,
    else /proc) on a thread; None where the collector is not procfs (the
    psutil backend reads on the main thread, as it always has)."""
    from pt.collect import backend
    from pt.collect.host import procfs_path
    if backend() != "procfs":
        return None
    return FirstReads(procfs_path(root))

"""Read every process from a procfs tree into columns, in C.

One pass over ``<root>/<pid>/{stat,status,cmdline}`` with ``openat`` relative to
the root directory, one reusable buffer, and hand-written parsers. The passes
run without the GIL, into C rows and a byte arena, and only then become numpy
columns and Python strings: a scan runs them on a thread while its main
thread imports the rest of pt. This module imports numpy only when a result
is built, never at import, so the reads can start before numpy is loaded.

Errors are translated at this boundary (psutil style): a file that is gone
(``ENOENT``/``ESRCH``) means the process vanished and its row is dropped; a
permission error keeps the row and nulls what could not be read; a malformed
``stat`` drops the row and is counted. Nothing here raises for one process.
"""
from libc.errno cimport errno, ENOENT, ESRCH, EACCES, EPERM, EINTR, EMFILE, ENFILE
from cpython cimport array
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memchr, memcmp, memcpy
from posix.fcntl cimport fcntl, openat, F_DUPFD_CLOEXEC, O_RDONLY, O_CLOEXEC, O_DIRECTORY, open as c_open
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC
from posix.unistd cimport read, close, getpid

import array as py_array
import os
import weakref

from pt.collect._parse cimport (N_IO, PID_MAX_LIMIT, StatFields, is_pid, parse_int, parse_io, parse_schedstat,
                               parse_stat, split_argv, stat_exit_code, status_count, status_uids, status_value)
from pt.collect._posix cimport DIR, O_PATH, closedir, dirent, fdopendir, pread, readdir, readlinkat, snprintf

# Outcome of reading one file.
cdef enum:
    READ_OK = 0
    READ_GONE = 1
    READ_DENIED = 2
    READ_FAILED = 3

# stat "flags" bit for kernel threads (include/linux/sched.h PF_KTHREAD).
cdef enum:
    PF_KTHREAD = 0x00200000

cdef struct Buffer:
    char *data
    size_t cap
    size_t len


cdef int buffer_reserve(Buffer *buf, size_t need) noexcept nogil:
    """Grow ``buf`` to hold at least ``need`` bytes; 0 on success, -1 when out of memory."""
    cdef size_t cap = buf.cap
    cdef char *grown
    if need <= cap:
        return 0
    while cap < need:
        cap *= 2
    grown = <char *>realloc(buf.data, cap)
    if grown == NULL:
        return -1
    buf.data = grown
    buf.cap = cap
    return 0


cdef int buffer_init(Buffer *buf) noexcept nogil:
    buf.cap = 4096
    buf.len = 0
    buf.data = <char *>malloc(buf.cap)
    return 0 if buf.data != NULL else -1


cdef int classify_errno(int err) noexcept nogil:
    if err == ENOENT or err == ESRCH:
        return READ_GONE
    if err == EACCES or err == EPERM:
        return READ_DENIED
    return READ_FAILED


cdef int read_fd(int fd, Buffer *buf, bint positioned) noexcept nogil:
    """Read the open file ``fd`` completely into ``buf``: with ``read`` from
    where it is, or (``positioned``) with ``pread`` from offset 0, which
    re-reads a kept procfs file as the kernel has it now.

    procfs files report size 0, so read until a short read, growing the
    buffer; the content is NUL-terminated for the parsers.
    """
    cdef ssize_t got
    cdef size_t room
    buf.len = 0
    while True:
        if buffer_reserve(buf, buf.len + 4096) != 0:
            return READ_FAILED
        room = buf.cap - buf.len - 1
        if positioned:
            got = pread(fd, buf.data + buf.len, room, buf.len)
        else:
            got = read(fd, buf.data + buf.len, room)
        if got >= 0:
            buf.len += got
            # A short read is the end: procfs files are generated whole per
            # read, and regular files only read short at EOF. This saves the
            # extra read() that would only return 0.
            if <size_t>got < room:
                break
        elif errno != EINTR:
            return classify_errno(errno)
    buf.data[buf.len] = 0
    return READ_OK


cdef int read_whole(int dirfd, const char *path, Buffer *buf) noexcept nogil:
    """Open ``path`` (relative to ``dirfd``), read it whole into ``buf`` (:func:`read_fd`), close it."""
    cdef int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC)
    cdef int rc
    if fd < 0:
        return classify_errno(errno)
    rc = read_fd(fd, buf, False)
    close(fd)
    return rc


cdef long long parse_status_swap_kb(const char *data, size_t n) noexcept nogil:
    """The ``VmSwap:`` line of /proc/PID/status in kB (man 5 proc: swapped-out
    anonymous memory), or -1 when absent (kernel threads, zombies) or out of
    range (more than 2^42 kB, 4 PiB: more than any machine's swap)."""
    cdef long long kb = -1
    if status_count(data, n, b"VmSwap:", 7, &kb) and kb <= (1LL << 42):
        return kb
    return -1


cdef class ProcessFiles


cdef struct Vec64:
    long long *data
    size_t len
    size_t cap


cdef int vec_push(Vec64 *v, long long value) noexcept nogil:
    """Append ``value``; 0 on success, -1 when out of memory."""
    cdef size_t cap
    cdef long long *grown
    if v.len == v.cap:
        cap = v.cap * 2 if v.cap else 256
        grown = <long long *>realloc(v.data, cap * sizeof(long long))
        if grown == NULL:
            return -1
        v.data = grown
        v.cap = cap
    v.data[v.len] = value
    v.len += 1
    return 0


cdef list vec_list(const Vec64 *v):
    return [v.data[k] for k in range(v.len)]


cdef ssize_t arena_add(Buffer *arena, const char *data, size_t n) noexcept nogil:
    """Copy ``n`` bytes to the end of ``arena``: their offset, or -1 when out of memory."""
    cdef size_t at = arena.len
    if buffer_reserve(arena, at + n + 1) != 0:
        return -1
    memcpy(arena.data + at, data, n)
    arena.len = at + n
    return <ssize_t>at


cdef int list_pids(int root_fd, Vec64 *pids) noexcept nogil:
    """Numeric entries of the procfs root, i.e. the thread-group leaders, into
    ``pids``. A name that is not a pid the kernel could give out (0, leading
    zeros, above PID_MAX_LIMIT) is not a process directory and is left out.
    0, or -1 with ``errno`` set (-1 and errno 0: out of memory)."""
    cdef int dup_fd = openat(root_fd, b".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    cdef DIR *d
    cdef dirent *entry
    cdef const char *name
    cdef long long pid
    if dup_fd < 0:
        return -1
    d = fdopendir(dup_fd)
    if d == NULL:
        close(dup_fd)
        return -1
    while True:
        entry = readdir(d)
        if entry == NULL:
            break
        name = entry.d_name
        if not (c'1' <= name[0] <= c'9'):
            continue
        pid = 0
        while c'0' <= name[0] <= c'9' and pid <= PID_MAX_LIMIT:
            pid = pid * 10 + (name[0] - c'0')
            name += 1
        if name[0] == 0 and is_pid(pid) and vec_push(pids, pid) != 0:
            closedir(d)
            errno = 0
            return -1
    closedir(d)
    return 0


cdef class _ProcRoot:
    """An open procfs root directory and a reusable read buffer; both are
    released when the object goes away."""
    cdef int fd
    cdef Buffer buf
    cdef bytes root

    def __cinit__(self, root):
        cdef bytes root_b = root.encode() if isinstance(root, str) else bytes(root)
        self.root = root_b
        self.fd = c_open(root_b, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if self.fd < 0:
            raise OSError(errno, f"cannot open procfs root {root_b.decode(errors='replace')!r}")
        self.buf.cap = 65536
        self.buf.len = 0
        self.buf.data = <char *>malloc(self.buf.cap)
        if self.buf.data == NULL:
            raise MemoryError()

    def __dealloc__(self):
        free(self.buf.data)
        self.release()

    cdef void release(self) noexcept nogil:
        """Close the root directory (the buffer stays until the object goes)."""
        if self.fd >= 0:
            close(self.fd)
            self.fd = -1


def read_processes(root):
    """Read all processes under the procfs directory ``root`` (str or bytes).

    Returns
    -------
    columns : dict
        numpy columns of equal length ``n`` (one row per process that was read):
        ``pid, ppid, pgid, sid, tty_nr, tpgid`` (int32), ``uid, euid`` (int64,
        -1 where status was unreadable), ``state`` (uint8, the ASCII state
        letter), ``flags`` (uint32), ``utime, stime, start_ticks`` (uint64
        clock ticks), ``nice, threads`` (int32), ``vsize_bytes`` (int64),
        ``rss_pages`` (int64), ``swap_kb`` (int64, status ``VmSwap``, -1 where
        absent or unreadable), ``kernel_thread`` (bool); and object columns
        ``comm`` (str) and ``cmdline`` (tuple of str, or None where unreadable).
    counts : dict
        ``vanished`` (rows dropped because the process exited mid-scan),
        ``denied`` (files we were not allowed to read; the row is kept),
        ``malformed`` (unparseable stat, row dropped; or status, uid nulled),
        plus ``denied_pids`` and ``malformed_pids`` lists.
    """
    table = TableRead(root)
    table.read()
    return table.columns()


# --- the CPU window: stat, io and schedstat of known rows, re-read -------------

IO_FIELDS = ("rchar", "wchar", "syscr", "syscw", "read_bytes", "write_bytes")

#: Files a window re-reads per process, in slot order.
WINDOW_FILES = ("stat", "io", "schedstat")
cdef enum:
    W_STAT = 0
    W_IO = 1
    W_SCHED = 2
    N_WINDOW = 3
    # What a slot holds when it keeps no fd.
    FD_BY_PATH = -1     # not kept (no fd to spare): opened by pid at each read
    FD_NONE = -2        # could not be opened (gone, denied): nothing to read
    # Low descriptors left free while the files are opened, so that what pt
    # opens during the window (a pipe that select() watches) stays far below
    # FD_SETSIZE (1024) however many files are kept.
    LOW_FDS_LEFT = 64

# Descriptors this process holds open in WindowFiles objects now, so that
# read_process_files can leave them out of pt's own fd count.
cdef Py_ssize_t window_fds = 0


cdef void close_kept(int *fds, Py_ssize_t n) noexcept nogil:
    """Close the kept fds of ``fds[:n]``, each marked not kept (opened by pid)
    before it is closed: a child forked in between holds no slot that looks
    open but names a closed (and perhaps reused) number."""
    cdef Py_ssize_t k
    cdef int fd
    for k in range(n):
        fd = fds[k]
        if fd >= 0:
            fds[k] = FD_BY_PATH
            close(fd)


cdef class ClosingFiles:
    """Kept files handed over to be closed (:meth:`WindowFiles.hand_over`).

    Closing the last reference to a procfs file releases its inode: for
    the 6,000 files of a 2,000-process window that is ~8 ms of kernel time,
    which a scan need not wait for. :meth:`run` closes them without the
    GIL (on a thread, beside the main thread's work); whatever it has not
    closed is closed when the object is freed.
    """
    cdef int *fds
    cdef Py_ssize_t n
    cdef object __weakref__

    def __cinit__(self):
        _keeping.add(self)

    def run(self):
        """Close every file (once; later calls do nothing)."""
        with nogil:
            self._close()

    def _drop_copies(self):
        """In a forked child: close its copies of the files not closed yet."""
        self._close()

    cdef void _close(self) noexcept nogil:
        if self.fds != NULL:
            close_kept(self.fds, self.n)
            free(self.fds)
            self.fds = NULL

    def __dealloc__(self):
        self._close()


#: Objects holding kept files; a forked child closes its copies of them.
_keeping = weakref.WeakSet()


def _drop_kept_in_child():
    """In a child just forked (``os.register_at_fork``): close the child's
    copies of the kept window files. The parent still holds them, so each
    close is a cheap reference drop here, while the child has nothing else
    to do; kept, they made the child's exit release 6,000 procfs inodes
    (~15 ms) while the parent waited to reap it."""
    for holder in list(_keeping):
        holder._drop_copies()


os.register_at_fork(after_in_child=_drop_kept_in_child)

cdef const char *WINDOW_NAMES[3]
WINDOW_NAMES[0] = b"stat"
WINDOW_NAMES[1] = b"io"
WINDOW_NAMES[2] = b"schedstat"


cdef class WindowFiles:
    """``stat``, ``io`` and ``schedstat`` of a fixed set of processes, opened
    once and re-read with ``pread`` (:data:`WINDOW_FILES`).

    A kept procfs fd is pinned to its process: once the process is reaped
    every ``pread`` fails with ``ESRCH`` (read as gone), so it never reads a
    successor with the same pid; ``stat`` is still checked against the start
    time. Rows past ``max_fds // 3`` (or past the point where ``open`` ran out
    of descriptors) keep nothing and are opened by pid at each read, as
    :func:`read_stat_ticks` does. The methods release the GIL and each uses
    its own buffer, so two of them can run on two threads at once.
    :meth:`close` (or the end of a ``with`` block) closes every fd.

    Parameters
    ----------
    root : str or bytes, the procfs root
    pids : int32 array, shape (n,)
    max_fds : int, descriptors the kept files may use (0: keep none)
    """
    cdef int root_fd
    cdef int *fds                       # (n, N_WINDOW), row-major
    cdef int *pids
    cdef long long *io_first            # (N_IO, n): the io counters read_first() read, -1 unreadable
    cdef long long *queued_first        # (n,): the schedstat run delays it read, -1 unreadable
    cdef long long *run_first           # (n,): ns on a CPU at the first reads, -1 where not gated (see since_first)
    cdef long long *slices_first        # (n,): times put on a CPU then
    cdef double first_at                # CLOCK_MONOTONIC seconds when it read them
    cdef readonly Py_ssize_t n
    cdef readonly Py_ssize_t kept       # rows whose files are kept open
    cdef Py_ssize_t held                # fds counted in window_fds (the kept files and the root)
    cdef object __weakref__

    def __cinit__(self, root, pids, Py_ssize_t max_fds=0):
        global window_fds
        cdef bytes root_b = root.encode() if isinstance(root, str) else bytes(root)
        cdef Py_ssize_t i, k, rows
        cdef int fd, slot
        cdef int spare[LOW_FDS_LEFT]
        cdef int n_spare = 0
        cdef char path[48]
        cdef const int[::1] given
        self.root_fd = -1
        self.fds = NULL
        try:
            given = pids
        except (TypeError, ValueError):
            import numpy as np
            given = np.ascontiguousarray(pids, dtype=np.int32).reshape(-1)
        self.n = given.shape[0]
        self.pids = <int *>malloc(max(self.n, 1) * sizeof(int))
        self.fds = <int *>malloc(max(self.n, 1) * N_WINDOW * sizeof(int))
        if self.fds == NULL or self.pids == NULL:
            raise MemoryError()
        for k in range(self.n):
            self.pids[k] = given[k]
        for k in range(self.n * N_WINDOW):
            self.fds[k] = FD_BY_PATH
        self.root_fd = c_open(root_b, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if self.root_fd < 0:
            raise OSError(errno, f"cannot open procfs root {root_b.decode(errors='replace')!r}")
        self.held = 1
        window_fds += 1
        _keeping.add(self)
        rows = min(self.n, max(max_fds, 0) // N_WINDOW)
        if rows == 0:
            return
        with nogil:
            while n_spare < LOW_FDS_LEFT:
                fd = fcntl(self.root_fd, F_DUPFD_CLOEXEC, 0)
                if fd < 0:
                    break
                spare[n_spare] = fd
                n_spare += 1
            for i in range(rows):
                for slot in range(N_WINDOW):
                    snprintf(path, sizeof(path), b"%d/%s", self.pids[i], WINDOW_NAMES[slot])
                    fd = openat(self.root_fd, path, O_RDONLY | O_CLOEXEC)
                    if fd >= 0:
                        self.fds[i * N_WINDOW + slot] = fd
                    elif errno == EMFILE or errno == ENFILE:
                        break                       # out of descriptors: the rest is read by pid
                    else:
                        self.fds[i * N_WINDOW + slot] = FD_NONE
                if fd < 0 and (errno == EMFILE or errno == ENFILE):
                    break
                self.kept = i + 1
            for k in range(n_spare):
                close(spare[k])
        for k in range(self.n * N_WINDOW):
            self.held += self.fds[k] >= 0
            window_fds += self.fds[k] >= 0

    def __dealloc__(self):
        self._close()

    def _drop_copies(self):
        """In a forked child: close its copies of the kept files (reads from
        here open by pid); see :func:`_drop_kept_in_child`."""
        global window_fds
        if self.fds != NULL:
            close_kept(self.fds, self.n * N_WINDOW)
            window_fds -= self.held - 1
            self.held = 1

    def hand_over(self):
        """Give the kept files to a :class:`ClosingFiles` (to close on a
        thread) and close the rest, as :meth:`close` does."""
        global window_fds
        cdef ClosingFiles closing = ClosingFiles.__new__(ClosingFiles)
        closing.fds, closing.n = self.fds, self.n * N_WINDOW
        window_fds -= self.held - 1                 # no longer this process's to count: closing
        self.held = 1
        self.fds = NULL
        self._close()
        return closing

    cdef void _close(self) noexcept nogil:
        cdef Py_ssize_t k
        global window_fds
        window_fds -= self.held
        self.held = 0
        if self.fds != NULL:
            for k in range(self.n * N_WINDOW):
                if self.fds[k] >= 0:
                    close(self.fds[k])
            free(self.fds)
            self.fds = NULL
        free(self.pids)
        free(self.io_first)
        free(self.queued_first)
        free(self.run_first)
        free(self.slices_first)
        self.pids = NULL
        self.io_first = NULL
        self.queued_first = NULL
        self.run_first = NULL
        self.slices_first = NULL
        if self.root_fd >= 0:
            close(self.root_fd)
            self.root_fd = -1

    def close(self):
        """Close every kept fd (idempotent); the object reads nothing after."""
        self._close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._close()

    cdef int _read(self, Py_ssize_t i, int slot, Buffer *buf) noexcept nogil:
        """Read row ``i``'s file ``slot`` into ``buf``: ``pread`` on its kept
        fd, or open by pid when it keeps none."""
        cdef int fd = self.fds[i * N_WINDOW + slot]
        cdef char path[48]
        if fd == FD_NONE:
            return READ_GONE
        if fd >= 0:
            return read_fd(fd, buf, True)
        snprintf(path, sizeof(path), b"%d/%s", self.pids[i], WINDOW_NAMES[slot])
        return read_whole(self.root_fd, path, buf)

    cdef int _begin(self, Buffer *buf) except -1:
        if self.fds == NULL:
            raise ValueError("the window's files are closed")
        if buffer_init(buf) != 0:
            raise MemoryError()
        return 0

    def stat_ticks(self, const unsigned long long[::1] start_ticks, const unsigned char[::1] skip=None):
        """CPU ticks (utime + stime, uint64) and state (uint8 letter) now, and
        ``alive`` (bool): False where the process is gone or its start time is
        not ``start_ticks`` (the pid names another process); 0 there, and in
        the rows ``skip`` (uint8, nonzero: not read) marks."""
        if start_ticks.shape[0] != self.n:
            raise ValueError(f"start_ticks has {start_ticks.shape[0]} rows, the window {self.n}")
        self._check_skip(skip)
        cdef bint skipping = skip is not None
        cdef Py_ssize_t i
        cdef Buffer buf
        cdef StatFields f
        import numpy as np
        ticks_a = np.zeros(self.n, np.uint64)
        state_a = np.zeros(self.n, np.uint8)
        alive_a = np.zeros(self.n, np.bool_)
        cdef unsigned long long[::1] ticks = ticks_a
        cdef unsigned char[::1] state = state_a
        cdef unsigned char[::1] alive = alive_a.view(np.uint8)
        self._begin(&buf)
        with nogil:
            for i in range(self.n):
                if skipping and skip[i]:
                    continue
                if self._read(i, W_STAT, &buf) != READ_OK or not parse_stat(buf.data, buf.len, &f) \
                        or <unsigned long long>f.starttime != start_ticks[i]:
                    continue
                ticks[i] = <unsigned long long>(f.utime + f.stime)
                state[i] = <unsigned char>f.state
                alive[i] = 1
        free(buf.data)
        return ticks_a, state_a, alive_a

    cdef void _fill_io(self, Buffer *buf, long long *out, const unsigned char *skip) noexcept nogil:
        """io counters into ``out`` (N_IO, n), -1 where unreadable (or ``skip``, may be NULL, is nonzero)."""
        cdef Py_ssize_t i, k
        cdef long long value[N_IO]
        for k in range(N_IO * self.n):
            out[k] = -1
        for i in range(self.n):
            if skip != NULL and skip[i]:
                continue
            if self._read(i, W_IO, buf) != READ_OK or not parse_io(buf.data, buf.len, value):
                continue
            for k in range(N_IO):
                out[k * self.n + i] = value[k]

    cdef void _fill_schedstat(self, Buffer *buf, long long *run, long long *wait) noexcept nogil:
        """schedstat's ns on a CPU (``run``, may be NULL) and ns queued (``wait``), -1 where unreadable."""
        cdef Py_ssize_t i
        cdef long long on_cpu, queued, slices
        for i in range(self.n):
            if run != NULL:
                run[i] = -1
            wait[i] = -1
            if self._read(i, W_SCHED, buf) != READ_OK \
                    or not parse_schedstat(buf.data, buf.len, &on_cpu, &queued, &slices):
                continue
            if run != NULL:
                run[i] = on_cpu
            wait[i] = queued

    def io(self, const unsigned char[::1] skip=None):
        """``io`` counters (man 5 proc): a dict of int64 arrays named by
        :data:`IO_FIELDS`, -1 where unreadable (another user's process),
        malformed or gone, or not read (``skip``, as :meth:`stat_ticks`)."""
        import numpy as np
        cdef Buffer buf
        self._check_skip(skip)
        out_a = np.empty((N_IO, self.n), np.int64)
        cdef long long[:, ::1] out = out_a
        cdef long long *into = &out[0, 0] if self.n else NULL
        cdef const unsigned char *skip_p = &skip[0] if skip is not None and self.n else NULL
        self._begin(&buf)
        with nogil:
            self._fill_io(&buf, into, skip_p)
        free(buf.data)
        return {name: out_a[k] for k, name in enumerate(IO_FIELDS)}

    def schedstat(self):
        """``schedstat`` (the sched_info of the thread group leader): ns on a
        CPU and ns runnable but waiting on a run queue, int64 arrays, -1 where
        unreadable, malformed or gone."""
        import numpy as np
        cdef Buffer buf
        run_a = np.empty(self.n, np.int64)
        wait_a = np.empty(self.n, np.int64)
        cdef long long[::1] run = run_a
        cdef long long[::1] wait = wait_a
        cdef long long *run_p = &run[0] if self.n else NULL
        cdef long long *wait_p = &wait[0] if self.n else NULL
        self._begin(&buf)
        with nogil:
            self._fill_schedstat(&buf, run_p, wait_p)
        free(buf.data)
        return run_a, wait_a

    cdef int _check_skip(self, const unsigned char[::1] skip) except -1:
        if skip is not None and skip.shape[0] != self.n:
            raise ValueError(f"skip has {skip.shape[0]} rows, the window {self.n}")
        return 0

    def since_first(self):
        """``schedstat`` now, against the first reads: ``(queued, quiet)``.

        ``queued`` is :meth:`schedstat`'s second array. ``quiet`` (bool)
        marks the processes that have not been on a CPU since their first
        reads: the ns on a CPU and the count of times put on one are both
        unchanged. Their ``stat`` and ``io`` now are what they were then, so
        the caller need not read them again. It holds only where
        :meth:`TableRead.read` took the first reads in the order this needs
        (``schedstat``, then ``stat`` and ``io``), of a single-threaded
        process not running at its ``stat`` read, whose ``schedstat`` is kept
        (a kept fd reads no successor) and whose ``io`` is kept or could not
        be opened: ``schedstat`` is the leader thread's alone, and a running
        task's ns lag until its next tick or switch. Nothing is quiet in a
        :class:`WindowFiles` that did not come from :meth:`TableRead.window_files`
        (:attr:`gated`)."""
        import numpy as np
        cdef Buffer buf
        cdef Py_ssize_t i
        cdef long long on_cpu, queued, slices
        wait_a = np.full(self.n, -1, np.int64)
        quiet_a = np.zeros(self.n, np.bool_)
        cdef long long[::1] wait = wait_a
        cdef unsigned char[::1] quiet = quiet_a.view(np.uint8)
        self._begin(&buf)
        with nogil:
            for i in range(self.n):
                if self._read(i, W_SCHED, &buf) != READ_OK \
                        or not parse_schedstat(buf.data, buf.len, &on_cpu, &queued, &slices):
                    continue
                wait[i] = queued
                if self.run_first == NULL or self.run_first[i] < 0 or on_cpu != self.run_first[i] \
                        or slices != self.slices_first[i]:
                    continue
                # The kept schedstat fd still reads: the process was never reaped, so its pid named
                # it at every read by pid. io that could not be opened (another user's) reads -1 still.
                quiet[i] = self.fds[i * N_WINDOW + W_SCHED] >= 0 and self.fds[i * N_WINDOW + W_STAT] != FD_NONE \
                    and self.fds[i * N_WINDOW + W_IO] != FD_BY_PATH
        free(buf.data)
        return wait_a, quiet_a

    @property
    def gated(self):
        """Whether :meth:`since_first` can find quiet rows here (the first
        reads came from :meth:`TableRead.read`, in the order it needs)."""
        return self.run_first != NULL

    def read_first(self):
        """Read the window's first io counters and run delays now, into this
        object (releases the GIL, needs no numpy); :meth:`first` returns them."""
        cdef Buffer buf
        cdef timespec now
        self._begin(&buf)
        free(self.io_first)
        free(self.queued_first)
        self.io_first = <long long *>malloc(max(self.n, 1) * N_IO * sizeof(long long))
        self.queued_first = <long long *>malloc(max(self.n, 1) * sizeof(long long))
        if self.io_first == NULL or self.queued_first == NULL:
            free(buf.data)
            raise MemoryError()
        with nogil:
            self._fill_io(&buf, self.io_first, NULL)
            clock_gettime(CLOCK_MONOTONIC, &now)
            self._fill_schedstat(&buf, NULL, self.queued_first)
        free(buf.data)
        self.first_at = now.tv_sec + now.tv_nsec * 1e-9

    def first(self):
        """What :meth:`read_first` read: ``(io, queued_at, queued)``, as
        :meth:`io` and :meth:`schedstat`'s second array return them, and the
        ``time.monotonic()`` seconds at which the run delays were read."""
        import numpy as np
        if self.io_first == NULL:
            raise ValueError("read_first() has not run")
        cdef long long[::1] io_view = <long long[:max(self.n * N_IO, 1)]>self.io_first
        cdef long long[::1] queued_view = <long long[:max(self.n, 1)]>self.queued_first
        io = np.array(io_view, copy=True)[:self.n * N_IO].reshape(N_IO, self.n)
        queued = np.array(queued_view, copy=True)[:self.n]
        return {name: io[k] for k, name in enumerate(IO_FIELDS)}, self.first_at, queued


# --- the process table, with the window's first reads -----------------------

cdef struct TableRow:
    StatFields f
    long long pid, ruid, euid, swap_kb
    size_t comm_off, cmd_off
    ssize_t cmd_len                     # -1: cmdline unreadable


cdef class TableRead:
    """:func:`read_processes` in steps: :meth:`read` reads every process
    without the GIL and without numpy (it can run on a thread while another
    imports numpy); :meth:`columns` then builds the numpy columns and strings.

    ``read(max_fds)`` also opens the CPU window: for the first ``max_fds // 3``
    rows it keeps ``stat``, ``io`` and ``schedstat`` open (the stat read is
    the window's CPU baseline, read through the kept fd), reading the row's
    ``schedstat`` right before its ``stat`` and ``io`` right after (the order
    :meth:`WindowFiles.since_first` needs); :meth:`window_files` hands
    those files and first reads to a :class:`WindowFiles`. Rows beyond the
    budget read their first io and schedstat by pid. :meth:`count` lists the
    pids first, so the caller can size the budget (:func:`pt.collect.early`).
    """
    cdef _ProcRoot proc
    cdef Vec64 listed                   # pids listed by count()
    cdef bint counted
    cdef TableRow *rows
    cdef Py_ssize_t n
    cdef Buffer arena                   # comm and cmdline bytes
    cdef Vec64 denied_pids, malformed_pids
    cdef Py_ssize_t vanished, denied, malformed
    cdef bint done
    cdef bint window                    # read() took the window's first reads
    cdef int *fds                       # (n, N_WINDOW) kept files, as WindowFiles holds them
    cdef Py_ssize_t kept
    cdef Py_ssize_t held                # kept fds counted in window_fds
    cdef int spare[LOW_FDS_LEFT]        # low fds held while keeping (see WindowFiles)
    cdef int n_spare
    cdef long long *io_first            # (N_IO, listed) then compacted to (N_IO, n)
    cdef long long *queued_first
    cdef long long *run_first           # see WindowFiles
    cdef long long *slices_first
    cdef double first_at
    cdef object __weakref__

    def __cinit__(self, root):
        self.proc = _ProcRoot(root)
        _keeping.add(self)
        if buffer_init(&self.arena) != 0:
            raise MemoryError()

    def __dealloc__(self):
        self.close()
        free(self.io_first)
        free(self.queued_first)
        free(self.run_first)
        free(self.slices_first)
        free(self.rows)
        free(self.arena.data)
        free(self.listed.data)
        free(self.denied_pids.data)
        free(self.malformed_pids.data)

    def _drop_copies(self):
        """In a forked child: close its copies of the kept files and spare fds."""
        if self.fds != NULL:
            close_kept(self.fds, self.n * N_WINDOW)
        self._release_spares()
        self._hold(-self.held)

    def close(self):
        """Close the files this table holds (its root, and kept files not
        handed to :meth:`window_files`); its rows stay readable (:meth:`columns`)."""
        cdef Py_ssize_t k
        if self.fds != NULL:
            for k in range(self.n * N_WINDOW):
                if self.fds[k] >= 0:
                    close(self.fds[k])
            free(self.fds)
            self.fds = NULL
        self._hold(-self.held)
        self.proc.release()

    def count(self):
        """List the procfs root's pids now (once): how many processes :meth:`read` will read."""
        cdef int rc
        if not self.counted:
            with nogil:
                rc = list_pids(self.proc.fd, &self.listed)
            if rc != 0:
                if errno == 0:
                    raise MemoryError()
                raise OSError(errno, "cannot list procfs root")
            self.counted = True
        return <Py_ssize_t>self.listed.len

    def read(self, Py_ssize_t max_fds=-1, ProcessFiles files=None):
        """Read every process now (once; releases the GIL). ``max_fds`` >= 0
        also takes the window's first reads, keeping files open for up to
        ``max_fds // 3`` rows. ``files`` (made without pids) then reads the
        rows' other files in the same call: one release of the GIL for all
        of it, so a thread running this waits for no other. Raises OSError
        when the root cannot be listed, MemoryError when out of memory."""
        cdef int rc
        cdef Py_ssize_t listed, i
        cdef bint with_files = files is not None
        if self.done:
            raise ValueError("this table was read already")
        if with_files and (files.done or files.pids != NULL):
            raise ValueError("files must be a ProcessFiles made without pids, not read yet")
        listed = self.count()
        self.done = True
        self.window = max_fds >= 0
        self.rows = <TableRow *>malloc(max(listed, 1) * sizeof(TableRow))
        if self.rows == NULL:
            raise MemoryError()
        if self.window:
            self.fds = <int *>malloc(max(listed, 1) * N_WINDOW * sizeof(int))
            self.io_first = <long long *>malloc(max(listed, 1) * N_IO * sizeof(long long))
            self.queued_first = <long long *>malloc(max(listed, 1) * sizeof(long long))
            self.run_first = <long long *>malloc(max(listed, 1) * sizeof(long long))
            self.slices_first = <long long *>malloc(max(listed, 1) * sizeof(long long))
            if self.fds == NULL or self.io_first == NULL or self.queued_first == NULL \
                    or self.run_first == NULL or self.slices_first == NULL:
                raise MemoryError()
        with nogil:
            rc = self._read(min(listed, max(max_fds, 0) // N_WINDOW))
            if rc == 0 and with_files:
                rc = files._take(self.n)
                if rc == 0:
                    for i in range(self.n):
                        files.pids[i] = <int>self.rows[i].pid
                    rc = files._read()
        if with_files:
            files.done = True
        if rc != 0:
            raise MemoryError()

    cdef int _open_kept(self, const char *path, int *fd, bint *keeping) noexcept nogil:
        """Open ``path`` to keep (``*fd``); stop keeping when out of
        descriptors. The READ_* outcome of a failed open, else READ_OK."""
        fd[0] = FD_BY_PATH
        if not keeping[0]:
            return READ_OK
        fd[0] = openat(self.proc.fd, path, O_RDONLY | O_CLOEXEC)
        if fd[0] >= 0:
            self._hold(1)
            return READ_OK
        if errno == EMFILE or errno == ENFILE:
            keeping[0] = False
            self._release_spares()              # the reads by pid from here need fds
            fd[0] = FD_BY_PATH
            return READ_OK
        fd[0] = FD_NONE
        return classify_errno(errno)

    cdef void _release_spares(self) noexcept nogil:
        cdef int k
        for k in range(self.n_spare):
            close(self.spare[k])
        self.n_spare = 0

    cdef int _read_kept(self, int fd, const char *path, Buffer *buf) noexcept nogil:
        if fd == FD_NONE:
            return READ_GONE
        if fd >= 0:
            return read_fd(fd, buf, True)
        return read_whole(self.proc.fd, path, buf)

    cdef int _read(self, Py_ssize_t keep_rows) noexcept nogil:
        """0, or -1 when out of memory."""
        cdef Buffer *buf = &self.proc.buf
        cdef TableRow *r
        cdef char path[48]
        cdef int rc, k
        cdef long long pid, on_cpu, queued, slices
        cdef long long value[N_IO]
        cdef ssize_t at
        cdef size_t i
        cdef int *fds
        cdef bint keeping = keep_rows > 0
        cdef timespec now
        cdef int failed = 0
        if keeping:
            while self.n_spare < LOW_FDS_LEFT:
                rc = fcntl(self.proc.fd, F_DUPFD_CLOEXEC, 0)
                if rc < 0:
                    break
                self.spare[self.n_spare] = rc
                self.n_spare += 1
        clock_gettime(CLOCK_MONOTONIC, &now)
        self.first_at = now.tv_sec + now.tv_nsec * 1e-9
        for i in range(self.listed.len):
            pid = self.listed.data[i]
            r = &self.rows[self.n]
            fds = &self.fds[self.n * N_WINDOW] if self.window else NULL
            if keeping and self.n >= keep_rows:
                keeping = False
                self._release_spares()
            if fds != NULL:
                fds[W_STAT] = fds[W_IO] = fds[W_SCHED] = FD_BY_PATH
                # schedstat before stat and io: WindowFiles.since_first() needs a first read taken before theirs
                on_cpu = queued = slices = -1
                snprintf(path, sizeof(path), b"%lld/schedstat", pid)
                if self._open_kept(path, &fds[W_SCHED], &keeping) == READ_OK \
                        and self._read_kept(fds[W_SCHED], path, buf) == READ_OK \
                        and not parse_schedstat(buf.data, buf.len, &on_cpu, &queued, &slices):
                    on_cpu = queued = slices = -1
            snprintf(path, sizeof(path), b"%lld/stat", pid)
            if fds != NULL:
                rc = self._open_kept(path, &fds[W_STAT], &keeping)
                if rc == READ_OK:
                    rc = self._read_kept(fds[W_STAT], path, buf)
            else:
                rc = read_whole(self.proc.fd, path, buf)
            if rc == READ_GONE:
                self.vanished += 1
                self._drop(fds)
                continue
            if rc != READ_OK:
                self.denied += 1
                self._drop(fds)
                if vec_push(&self.denied_pids, pid) != 0:
                    failed = 1
                    break
                continue
            if not parse_stat(buf.data, buf.len, &r.f):
                self.malformed += 1
                self._drop(fds)
                if vec_push(&self.malformed_pids, pid) != 0:
                    failed = 1
                    break
                continue
            at = arena_add(&self.arena, buf.data + r.f.comm_start, r.f.comm_len)
            if at < 0:
                self._drop(fds)
                failed = 1
                break
            r.comm_off = at
            r.pid = pid

            if fds != NULL:                 # the window's first io, read now (schedstat was, before stat)
                for k in range(N_IO):
                    self.io_first[k * self.listed.len + self.n] = -1
                snprintf(path, sizeof(path), b"%lld/io", pid)
                if self._open_kept(path, &fds[W_IO], &keeping) == READ_OK \
                        and self._read_kept(fds[W_IO], path, buf) == READ_OK and parse_io(buf.data, buf.len, value):
                    for k in range(N_IO):
                        self.io_first[k * self.listed.len + self.n] = value[k]
                self.queued_first[self.n] = queued
                self.slices_first[self.n] = slices
                # Gated by since_first(): a single thread (schedstat is the leader's), not on a CPU at the stat read.
                self.run_first[self.n] = on_cpu if on_cpu > 0 and slices > 0 and r.f.num_threads == 1 \
                    and r.f.state != c'R' else -1

            snprintf(path, sizeof(path), b"%lld/status", pid)
            rc = read_whole(self.proc.fd, path, buf)
            if rc == READ_GONE:
                self.vanished += 1
                self._drop(fds)
                continue
            r.ruid = r.euid = r.swap_kb = -1
            if rc != READ_OK:
                self.denied += 1
                if vec_push(&self.denied_pids, pid) != 0:
                    self._drop(fds)
                    failed = 1
                    break
            else:
                r.swap_kb = parse_status_swap_kb(buf.data, buf.len)
                if not status_uids(buf.data, buf.len, &r.ruid, &r.euid):
                    r.ruid = r.euid = -1
                    self.malformed += 1
                    if vec_push(&self.malformed_pids, pid) != 0:
                        self._drop(fds)
                        failed = 1
                        break

            snprintf(path, sizeof(path), b"%lld/cmdline", pid)
            rc = read_whole(self.proc.fd, path, buf)
            if rc == READ_GONE:
                self.vanished += 1
                self._drop(fds)
                continue
            r.cmd_len = -1
            if rc == READ_OK:
                at = arena_add(&self.arena, buf.data, buf.len)
                if at < 0:
                    self._drop(fds)
                    failed = 1
                    break
                r.cmd_off = at
                r.cmd_len = <ssize_t>buf.len
            else:
                self.denied += 1
                if vec_push(&self.denied_pids, pid) != 0:
                    self._drop(fds)
                    failed = 1
                    break
            if fds != NULL and fds[W_STAT] >= 0:
                self.kept = self.n + 1
            self.n += 1
        self._release_spares()
        if self.window:                     # (N_IO, listed) -> (N_IO, n)
            for k in range(1, N_IO):
                for i in range(<size_t>self.n):
                    self.io_first[k * self.n + i] = self.io_first[k * self.listed.len + i]
        return -failed

    cdef void _hold(self, Py_ssize_t k) noexcept nogil:
        """Count ``k`` more kept fds (may be negative) here and in
        ``window_fds``, which pt's own fd count leaves out."""
        global window_fds
        self.held += k
        window_fds += k

    cdef void _drop(self, int *fds) noexcept nogil:
        """Close the kept files of a row that is not kept."""
        cdef int slot
        if fds == NULL:
            return
        for slot in range(N_WINDOW):
            if fds[slot] >= 0:
                close(fds[slot])
                self._hold(-1)
            fds[slot] = FD_BY_PATH

    def window_files(self):
        """A :class:`WindowFiles` of the rows read, holding the files kept by
        ``read(max_fds)`` and its first reads (:meth:`WindowFiles.first`);
        this table keeps no file after. Once only."""
        global window_fds
        cdef WindowFiles files
        cdef Py_ssize_t k
        if not self.window or self.fds == NULL:
            raise ValueError("read(max_fds) opens the window; window_files() takes it once")
        files = WindowFiles(self.proc.root, self.pids(), 0)
        for k in range(self.n * N_WINDOW):
            files.fds[k] = self.fds[k]
            files.held += self.fds[k] >= 0
        window_fds -= self.held                 # counted again as the files' own
        window_fds += files.held - 1
        self.held = 0
        files.kept = self.kept
        free(self.fds)
        self.fds = NULL
        files.io_first = self.io_first
        files.queued_first = self.queued_first
        files.run_first = self.run_first
        files.slices_first = self.slices_first
        self.io_first = NULL
        self.queued_first = NULL
        self.run_first = NULL
        self.slices_first = NULL
        files.first_at = self.first_at
        return files

    def pids(self):
        """The pids of the rows read, an ``array('i')`` (no numpy)."""
        cdef array.array out = array.clone(array.array("i"), self.n, zero=False)
        cdef Py_ssize_t i
        for i in range(self.n):
            out.data.as_ints[i] = <int>self.rows[i].pid
        return out

    def columns(self):
        """``(columns, counts)`` as :func:`read_processes` returns them."""
        import numpy as np
        if not self.done:
            raise ValueError("read() the table first")
        cdef Py_ssize_t row, n = self.n
        cdef TableRow *r
        cdef const char *arena = self.arena.data
        pid_a = np.empty(n, np.int32)
        ppid_a = np.empty(n, np.int32)
        pgid_a = np.empty(n, np.int32)
        sid_a = np.empty(n, np.int32)
        tty_a = np.empty(n, np.int32)
        tpgid_a = np.empty(n, np.int32)
        uid_a = np.empty(n, np.int64)
        euid_a = np.empty(n, np.int64)
        state_a = np.empty(n, np.uint8)
        flags_a = np.empty(n, np.uint32)
        utime_a = np.empty(n, np.uint64)
        stime_a = np.empty(n, np.uint64)
        start_a = np.empty(n, np.uint64)
        nice_a = np.empty(n, np.int32)
        threads_a = np.empty(n, np.int32)
        vsize_a = np.empty(n, np.int64)
        rss_a = np.empty(n, np.int64)
        swap_a = np.empty(n, np.int64)
        kthread_a = np.empty(n, np.bool_)
        comm_a = np.empty(n, object)
        cmdline_a = np.empty(n, object)

        cdef int[::1] pid_v = pid_a, ppid_v = ppid_a, pgid_v = pgid_a, sid_v = sid_a
        cdef int[::1] tty_v = tty_a, tpgid_v = tpgid_a, nice_v = nice_a, threads_v = threads_a
        cdef long long[::1] uid_v = uid_a, euid_v = euid_a, vsize_v = vsize_a, rss_v = rss_a, swap_v = swap_a
        cdef unsigned char[::1] state_v = state_a
        cdef unsigned int[::1] flags_v = flags_a
        cdef unsigned long long[::1] utime_v = utime_a, stime_v = stime_a, start_v = start_a
        cdef unsigned char[::1] kthread_v = kthread_a.view(np.uint8)

        for row in range(n):
            r = &self.rows[row]
            pid_v[row] = <int>r.pid
            ppid_v[row] = <int>r.f.ppid
            pgid_v[row] = <int>r.f.pgrp
            sid_v[row] = <int>r.f.session
            tty_v[row] = <int>r.f.tty_nr
            tpgid_v[row] = <int>r.f.tpgid
            uid_v[row] = r.ruid
            euid_v[row] = r.euid
            state_v[row] = <unsigned char>r.f.state
            flags_v[row] = <unsigned int>r.f.flags
            utime_v[row] = <unsigned long long>r.f.utime
            stime_v[row] = <unsigned long long>r.f.stime
            start_v[row] = <unsigned long long>r.f.starttime
            nice_v[row] = <int>r.f.nice
            threads_v[row] = <int>r.f.num_threads
            vsize_v[row] = r.f.vsize
            rss_v[row] = r.f.rss
            swap_v[row] = r.swap_kb
            kthread_v[row] = (r.f.flags & PF_KTHREAD) != 0
            comm_a[row] = arena[r.comm_off:r.comm_off + r.f.comm_len].decode("utf-8", "backslashreplace")
            cmdline_a[row] = split_argv(arena + r.cmd_off, r.cmd_len) if r.cmd_len >= 0 else None

        columns = {
            "pid": pid_a, "ppid": ppid_a, "pgid": pgid_a, "sid": sid_a,
            "tty_nr": tty_a, "tpgid": tpgid_a, "uid": uid_a, "euid": euid_a,
            "state": state_a, "flags": flags_a, "utime": utime_a,
            "stime": stime_a, "start_ticks": start_a, "nice": nice_a,
            "threads": threads_a, "vsize_bytes": vsize_a, "rss_pages": rss_a,
            "swap_kb": swap_a,
            "kernel_thread": kthread_a, "comm": comm_a, "cmdline": cmdline_a,
        }
        counts = {
            "vanished": self.vanished, "denied": self.denied, "malformed": self.malformed,
            "denied_pids": vec_list(&self.denied_pids), "malformed_pids": vec_list(&self.malformed_pids),
        }
        return columns, counts


def read_stat_ticks(root, pids, const unsigned long long[::1] start_ticks):
    """Re-read ``stat`` of known processes by pid: :meth:`WindowFiles.stat_ticks`
    (uint64 ticks, uint8 state, bool alive; a reused pid is not alive)."""
    with WindowFiles(root, pids) as files:
        return files.stat_ticks(start_ticks)


def read_io(root, pids):
    """``/proc/PID/io`` of each pid: :meth:`WindowFiles.io` (int64, -1 unreadable)."""
    with WindowFiles(root, pids) as files:
        return files.io()


def read_schedstat(root, pids):
    """``/proc/PID/schedstat`` of each pid: :meth:`WindowFiles.schedstat`
    (int64 ns on a CPU, ns waiting on a run queue; -1 unreadable)."""
    with WindowFiles(root, pids) as files:
        return files.schedstat()


# --- per-process details, read for a chosen set of rows ------------------------

cdef long long socket_inode(const char *target, ssize_t got) noexcept nogil:
    """The inode of an fd link's target ``socket:[INODE]`` (``got`` bytes),
    or -1 when it is not one, or not one the kernel would write."""
    cdef const char *p = target + 8
    cdef long long inode
    if got < 10 or memcmp(target, b"socket:[", 8) != 0 or target[got - 1] != c']':
        return -1
    if not parse_int(&p, target + got - 1, &inode) or p != target + got - 1 or inode < 0:
        return -1
    return inode


cdef long long scan_fd_dir(int dir_fd, Py_ssize_t row, Vec64 *rows, Vec64 *inodes, signed char *stdio_null,
                           bint sockets=True) noexcept nogil:
    """Count the fds listed in the ``fd`` directory ``dir_fd`` (which it
    closes) and append each socket's inode to ``inodes`` (``row`` to
    ``rows``; not looked for unless ``sockets``); ``stdio_null``, if given,
    is set to 1 when fds 0 and 1 both link to /dev/null, 0 when they do not,
    -1 when either is missing. -1 when the directory cannot be listed, -2
    when out of memory."""
    cdef DIR *d = fdopendir(dir_fd)
    cdef dirent *entry
    cdef char target[64]
    cdef ssize_t got
    cdef long long count = 0, inode
    cdef int stdio_seen = 0, stdio_devnull = 0
    cdef bint is_stdio
    if d == NULL:
        close(dir_fd)
        return -1
    while True:
        entry = readdir(d)
        if entry == NULL:
            break
        if entry.d_name[0] == c'.':
            continue
        count += 1
        is_stdio = (entry.d_name[0] == c'0' or entry.d_name[0] == c'1') and entry.d_name[1] == 0
        if not (is_stdio or sockets):
            continue
        got = readlinkat(dir_fd, entry.d_name, target, sizeof(target))
        if got < 0:
            continue
        if is_stdio:
            stdio_seen += 1
            stdio_devnull += got == 9 and memcmp(target, b"/dev/null", 9) == 0
            continue
        inode = socket_inode(target, got)
        if inode >= 0 and (vec_push(rows, row) != 0 or vec_push(inodes, inode) != 0):
            closedir(d)
            return -2
    closedir(d)
    if stdio_null != NULL:
        stdio_null[0] = -1 if stdio_seen < 2 else stdio_devnull == 2
    return count


cdef long long own_pid(int root_fd, char *buf, size_t cap) noexcept nogil:
    """This process's pid when the procfs root is its own (the root's
    ``self`` link names it), else -1."""
    cdef ssize_t got = readlinkat(root_fd, b"self", buf, cap)
    cdef const char *p = buf
    cdef long long pid
    if got <= 0 or not parse_int(&p, buf + got, &pid) or p != buf + got or pid != getpid():
        return -1
    return pid


def read_process_files(root, pids):
    """What the quick scan reads of each process besides ``stat``, ``status``
    and ``cmdline``, through one directory fd per process: the ``cwd`` link,
    the ``fd`` directory (its count, its sockets, and whether fds 0 and 1 are
    ``/dev/null``) and ``cgroup``. :class:`ProcessFiles` in one call.

    Returns
    -------
    dict
        ``cwd`` (object array: str, None where unreadable or gone; a deleted
        directory keeps the kernel's `` (deleted)`` suffix), ``fd_count``
        (int32, -1 where unreadable), ``socket_row`` (int32, the row of each
        socket fd found) and ``socket_inode`` (uint64, matches /proc/net/*),
        ``stdio_null`` (int8: 1 stdin and stdout are /dev/null, 0 not, -1
        unreadable or closed), ``cgroup`` (list of the distinct cgroup texts,
        "" where unreadable) and ``cgroup_index`` (int32, each row's index
        into ``cgroup``).
    """
    files = ProcessFiles(root, pids)
    files.read()
    return files.result()


cdef struct FilesRow:
    ssize_t cwd_off, cwd_len            # cwd_len -1: unreadable or gone
    size_t cgroup_off, cgroup_len       # cgroup_len 0: unreadable (or empty)
    int fd_count
    signed char stdio_null


cdef class ProcessFiles:
    """:func:`read_process_files` in two steps, as :class:`TableRead`:
    :meth:`read` without the GIL or numpy, :meth:`result` builds the columns.
    ``pids``: int32 (an ``array('i')`` or a numpy array).

    pt's own row has its fds counted when the reader is made, not when its
    row is read: by then the window keeps thousands of files open, and
    listing them leaves a dentry per fd under ``/proc/<pt>/fd`` that the
    kernel frees only when pt is reaped (~9 ms for 6,000, paid by whoever
    waits for pt)."""
    cdef _ProcRoot proc
    cdef long long own                  # this process's pid on this procfs, else -1
    cdef int own_fd_count               # its fds when the reader was made (less the kept ones), -1 unknown
    cdef signed char own_stdio_null
    cdef int *pids
    cdef Py_ssize_t n
    cdef FilesRow *rows
    cdef Buffer arena                   # cwd and cgroup bytes
    cdef Vec64 socket_rows, socket_inodes
    cdef bint done

    def __cinit__(self, root, pids=None):
        cdef const int[::1] given
        cdef Py_ssize_t i
        self.proc = _ProcRoot(root)
        if buffer_init(&self.arena) != 0:
            raise MemoryError()
        self._count_own_fds()
        if pids is None:                    # TableRead.read(files=...) gives them
            return
        try:
            given = pids
        except (TypeError, ValueError):
            import numpy as np
            given = np.ascontiguousarray(pids, dtype=np.int32).reshape(-1)
        if self._take(given.shape[0]) != 0:
            raise MemoryError()
        for i in range(self.n):
            self.pids[i] = given[i]

    def close(self):
        """Close the procfs root; what was read stays (:meth:`result`)."""
        self.proc.release()

    cdef void _count_own_fds(self) noexcept nogil:
        """Count this process's fds now (see the class docstring)."""
        cdef char path[48]
        cdef int dir_fd
        cdef long long count
        self.own = own_pid(self.proc.fd, self.proc.buf.data, self.proc.buf.cap)
        self.own_fd_count = -1
        self.own_stdio_null = -1
        if self.own < 0:
            return
        snprintf(path, sizeof(path), b"%lld/fd", self.own)
        dir_fd = openat(self.proc.fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir_fd < 0:
            return
        count = scan_fd_dir(dir_fd, 0, NULL, NULL, &self.own_stdio_null, False)
        if count >= 0:
            self.own_fd_count = <int>max(count - 1 - window_fds, 0)        # less the listing's own fd

    cdef int _take(self, Py_ssize_t n) noexcept nogil:
        """Room for ``n`` rows (their pids to be filled in); -1 when out of memory."""
        self.n = n
        self.pids = <int *>malloc(max(n, 1) * sizeof(int))
        self.rows = <FilesRow *>malloc(max(n, 1) * sizeof(FilesRow))
        return 0 if self.pids != NULL and self.rows != NULL else -1

    def __dealloc__(self):
        free(self.pids)
        free(self.rows)
        free(self.arena.data)
        free(self.socket_rows.data)
        free(self.socket_inodes.data)

    def read(self):
        """Read every row's files now (once; releases the GIL)."""
        cdef int rc
        if self.done:
            raise ValueError("these files were read already")
        if self.pids == NULL:
            raise ValueError("no pids to read: pass them, or this object to TableRead.read")
        self.done = True
        with nogil:
            rc = self._read()
        if rc != 0:
            raise MemoryError()

    cdef int _read(self) noexcept nogil:
        cdef Buffer *buf = &self.proc.buf
        cdef char path[48]
        cdef int pid_fd, dir_fd, rc
        cdef ssize_t got, at
        cdef long long count
        cdef FilesRow *r
        cdef Py_ssize_t i
        for i in range(self.n):
            r = &self.rows[i]
            r.cwd_len = -1
            r.cgroup_len = 0
            r.fd_count = -1
            r.stdio_null = -1
            if self.pids[i] == self.own:
                r.fd_count, r.stdio_null = self.own_fd_count, self.own_stdio_null
            snprintf(path, sizeof(path), b"%d", self.pids[i])
            pid_fd = openat(self.proc.fd, path, O_PATH | O_DIRECTORY | O_CLOEXEC)
            if pid_fd < 0:
                continue
            got = readlinkat(pid_fd, b"cwd", buf.data, buf.cap)
            if got >= 0:
                at = arena_add(&self.arena, buf.data, got)
                if at < 0:
                    close(pid_fd)
                    return -1
                r.cwd_off, r.cwd_len = at, got

            dir_fd = -1 if self.pids[i] == self.own else openat(pid_fd, b"fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if dir_fd >= 0:
                count = scan_fd_dir(dir_fd, i, &self.socket_rows, &self.socket_inodes, &r.stdio_null)
                if count == -2:
                    close(pid_fd)
                    return -1
                r.fd_count = <int>count

            rc = read_whole(pid_fd, b"cgroup", buf)
            close(pid_fd)
            if rc == READ_OK and buf.len:
                at = arena_add(&self.arena, buf.data, buf.len)
                if at < 0:
                    return -1
                r.cgroup_off, r.cgroup_len = at, buf.len
        return 0

    def result(self):
        """The dict :func:`read_process_files` returns."""
        import numpy as np
        if not self.done:
            raise ValueError("read() the files first")
        cdef Py_ssize_t i, n = self.n
        cdef FilesRow *r
        cdef const char *arena = self.arena.data
        cwd_a = np.empty(n, object)
        fd_count_a = np.empty(n, np.int32)
        stdio_a = np.empty(n, np.int8)
        cgroup_index_a = np.zeros(n, np.int32)
        cdef int[::1] fd_count = fd_count_a
        cdef signed char[::1] stdio = stdio_a
        cdef int[::1] cgroup_index = cgroup_index_a
        cgroups = {b"": 0}
        for i in range(n):
            r = &self.rows[i]
            cwd_a[i] = arena[r.cwd_off:r.cwd_off + r.cwd_len].decode("utf-8", "backslashreplace") \
                if r.cwd_len >= 0 else None
            fd_count[i] = r.fd_count
            stdio[i] = r.stdio_null
            if r.cgroup_len:
                cgroup_index[i] = cgroups.setdefault(arena[r.cgroup_off:r.cgroup_off + r.cgroup_len],
                                                     len(cgroups))
        socket_row = np.array(vec_list(&self.socket_rows), dtype=np.int32)
        socket_inode = np.array(vec_list(&self.socket_inodes), dtype=np.uint64)
        return {
            "cwd": cwd_a, "fd_count": fd_count_a,
            "socket_row": socket_row, "socket_inode": socket_inode,
            "stdio_null": stdio_a,
            "cgroup": [text.decode("utf-8", "backslashreplace") for text in cgroups],
            "cgroup_index": cgroup_index_a,
        }


def read_links(root, const int[::1] pids, name):
    """``readlink`` of ``/proc/PID/<name>`` (``cwd``, ``exe``, ``root``) for
    each pid: an object array of str, None where unreadable or gone. A
    deleted target keeps the kernel's `` (deleted)`` suffix."""
    cdef bytes name_b = name.encode() if isinstance(name, str) else bytes(name)
    cdef Py_ssize_t n = pids.shape[0], i
    cdef char path[96]
    cdef ssize_t got
    import numpy as np
    out = np.empty(n, object)
    cdef _ProcRoot proc = _ProcRoot(root)
    for i in range(n):
        snprintf(path, sizeof(path), b"%d/%s", pids[i], <const char *>name_b)
        got = readlinkat(proc.fd, path, proc.buf.data, proc.buf.cap)
        out[i] = proc.buf.data[:got].decode("utf-8", "backslashreplace") if got >= 0 else None
    return out


def read_fd_sockets(root, const int[::1] pids):
    """Open file descriptors of each pid, and the socket inodes among them.

    Returns
    -------
    fd_count : int32 array, open descriptors per pid (-1 where unreadable)
    socket_row : int32 array, for each socket found, the index of its pid
    socket_inode : uint64 array, the socket's inode (matches /proc/net/*)
    """
    cdef Py_ssize_t n = pids.shape[0], i
    cdef char path[48]
    cdef int dir_fd
    cdef long long count
    cdef Vec64 rows, inodes
    import numpy as np
    fd_count_a = np.full(n, -1, np.int32)
    cdef int[::1] fd_count = fd_count_a
    rows.data, rows.len, rows.cap = NULL, 0, 0
    inodes.data, inodes.len, inodes.cap = NULL, 0, 0
    cdef _ProcRoot proc = _ProcRoot(root)
    try:
        for i in range(n):
            snprintf(path, sizeof(path), b"%d/fd", pids[i])
            dir_fd = openat(proc.fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if dir_fd >= 0:
                count = scan_fd_dir(dir_fd, i, &rows, &inodes, NULL)
                if count == -2:
                    raise MemoryError()
                fd_count[i] = <int>count
        return (fd_count_a, np.array(vec_list(&rows), dtype=np.int32),
                np.array(vec_list(&inodes), dtype=np.uint64))
    finally:
        free(rows.data)
        free(inodes.data)


def read_texts(root, const int[::1] pids, name):
    """The text of ``/proc/PID/<name>`` (a small file such as ``cgroup`` or
    ``wchan``) for each pid: an object array of str, None where unreadable."""
    cdef bytes name_b = name.encode() if isinstance(name, str) else bytes(name)
    cdef Py_ssize_t n = pids.shape[0], i
    cdef char path[96]
    import numpy as np
    out = np.empty(n, object)
    cdef _ProcRoot proc = _ProcRoot(root)
    for i in range(n):
        snprintf(path, sizeof(path), b"%d/%s", pids[i], <const char *>name_b)
        if read_whole(proc.fd, path, &proc.buf) == READ_OK:
            out[i] = proc.buf.data[:proc.buf.len].decode("utf-8", "backslashreplace")
        else:
            out[i] = None
    return out


# --- one file's bytes, parsed by the same C parsers (for pt.collect.procfs) -----

#: Fields of :func:`parse_stat_bytes`, in order (man 5 proc numbering in the docstring).
STAT_FIELDS = ("comm", "state", "ppid", "pgrp", "session", "tty_nr", "tpgid", "flags", "utime", "stime",
               "cutime", "cstime", "nice", "num_threads", "start_ticks", "vsize", "rss", "exit_code")


def parse_stat_bytes(bytes data):
    """The fields :data:`STAT_FIELDS` of one ``/proc/PID/stat``, parsed as the
    scan parses it (comm up to the last ``)``, decoded UTF-8 with
    ``backslashreplace``; state a one-letter str; field 52 ``exit_code`` None
    when absent), or None when it does not parse."""
    cdef StatFields f
    cdef const char *p = data
    cdef size_t n = len(data)
    cdef long long code
    if not parse_stat(p, n, &f):
        return None
    code = stat_exit_code(p, n, &f)
    return (data[f.comm_start:f.comm_start + f.comm_len].decode("utf-8", "backslashreplace"),
            chr(f.state), f.ppid, f.pgrp, f.session, f.tty_nr, f.tpgid, f.flags, f.utime, f.stime,
            f.cutime, f.cstime, f.nice, f.num_threads, f.starttime, f.vsize, f.rss,
            None if code < 0 else code)


def parse_status_uids_bytes(bytes data):
    """``(real, effective)`` uid of one ``/proc/PID/status``, or None when the
    ``Uid:`` line is absent or out of range."""
    cdef long long ruid, euid
    if not status_uids(data, len(data), &ruid, &euid):
        return None
    return ruid, euid


def parse_status_value_bytes(bytes data, bytes key):
    """The text after ``key`` (e.g. ``b"SigIgn:"``) on the line of a status
    file that starts with it, blanks stripped, or None when no line does."""
    cdef const char *p = data
    cdef const char *v = status_value(p, len(data), key, len(key))
    cdef const char *line_end
    if v == NULL:
        return None
    line_end = <const char *>memchr(v, c'\n', p + len(data) - v)
    return data[v - p:(line_end - p) if line_end != NULL else len(data)].rstrip()


def parse_io_bytes(bytes data):
    """The counters :data:`IO_FIELDS` of one ``/proc/PID/io`` as a tuple, or
    None when it does not parse."""
    cdef long long out[N_IO]
    if not parse_io(data, len(data), out):
        return None
    return tuple([out[k] for k in range(N_IO)])

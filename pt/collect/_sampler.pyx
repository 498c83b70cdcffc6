"""Deep-scan sampler: re-read a fixed set of processes many times, in C.

:class:`ProcSampler` opens, once, the files it needs for every candidate
(``stat``, ``io``, ``status``, ``schedstat``) and keeps them open; each
:meth:`ProcSampler.sample` is one pass of ``pread(fd, buf, n, 0)`` per file
into one reused buffer, parsed by hand, written into preallocated numpy
columns, with the GIL released. A kept procfs fd is pinned to its process
(after the process is reaped every read fails with ``ESRCH``); the start time
in ``stat`` is re-checked on every pass anyway, and a candidate that is gone or
no longer matches is closed and marked dead for good: it is never re-opened
by pid.

:class:`SystemSampler` does the same for ``loadavg``, ``meminfo`` and the PSI
files under ``pressure/``.

Errors are translated here, as in ``_procfs``: gone (``ENOENT``/``ESRCH``)
ends a candidate, denied (``EACCES``/``EPERM``, e.g. ``io`` of another user's
process) nulls that file's columns (-1) and keeps sampling, malformed ``stat``
ends the candidate (its identity can no longer be checked). Nothing raises for
one process.
"""
from libc.errno cimport errno, ENOENT, ESRCH, EACCES, EPERM, EINTR, EMFILE, ENFILE
from libc.math cimport NAN
from libc.stdlib cimport malloc, free, strtod
from libc.string cimport memchr, memcmp, memcpy, strlen
from posix.fcntl cimport openat, O_RDONLY, O_CLOEXEC, O_DIRECTORY, open as c_open
from posix.unistd cimport close

import os

cimport numpy as cnp
import numpy as np

cnp.import_array()

from pt.collect._parse cimport N_IO, StatFields, memmem, parse_int, parse_io, parse_stat, status_count
from pt.collect._posix cimport DIR, closedir, dirent, fdopendir, pread, readdir, snprintf
from pt.collect.fds import fd_budget

#: Columns of :meth:`ProcSampler.sample`'s ``out`` (int64, -1 = unknown), in row order.
FIELDS = (
    "cpu_ticks",      # stat 14+15 utime + stime
    "child_ticks",    # stat 16+17 cutime + cstime (waited-for children)
    "threads",        # stat 20 num_threads
    "rss_pages",      # stat 24 rss
    "rchar",          # io: bytes passed to read()-like calls
    "wchar",          # io: bytes passed to write()-like calls
    "syscalls",       # io: syscr + syscw
    "read_bytes",     # io: bytes fetched from the storage layer
    "write_bytes",    # io: bytes sent to the storage layer
    "vol_ctx",        # status voluntary_ctxt_switches
    "invol_ctx",      # status nonvoluntary_ctxt_switches
    "run_ns",         # schedstat 1: time on CPU
    "wait_ns",        # schedstat 2: time runnable, waiting for a CPU
    "timeslices",     # schedstat 3: times run on a CPU (~ all context switches)
)
cdef enum:
    F_CPU = 0
    F_CHILD = 1
    F_THREADS = 2
    F_RSS = 3
    F_RCHAR = 4
    F_WCHAR = 5
    F_SYSCALLS = 6
    F_READ_BYTES = 7
    F_WRITE_BYTES = 8
    F_VOL = 9
    F_INVOL = 10
    F_RUN = 11
    F_WAIT = 12
    F_SLICES = 13
    N_FIELDS = 14

#: The per-candidate files, in the order they are given up when fds are short.
FILES = ("stat", "io", "status", "schedstat")
cdef enum:
    N_FILES = 4
    S_STAT = 0
    S_IO = 1
    S_STATUS = 2
    S_SCHED = 3

#: Why a candidate is not sampled (``ProcSampler.reason``); 0 means it still is.
REASONS = ("alive", "exited", "reused", "refused", "malformed", "denied", "dropped", "closed")
cdef enum:
    R_ALIVE = 0
    R_EXITED = 1     # ENOENT/ESRCH on a read: the process is gone
    R_REUSED = 2     # start time no longer matches
    R_REFUSED = 3    # start time did not match (or process gone) when opening
    R_MALFORMED = 4  # stat did not parse: identity cannot be checked
    R_DENIED = 5     # stat not readable
    R_DROPPED = 6    # drop() by the caller
    R_CLOSED = 7     # close()

#: Kept fds per candidate for each mode (see ``ProcSampler``).
MODES = {"pread": 4, "pread-stat-io": 2, "reopen": 0}

cdef enum:
    READ_OK = 0
    READ_GONE = 1
    READ_DENIED = 2
    READ_FAILED = 3

cdef enum:
    BUF_SIZE = 16384

cdef const char *FILE_NAMES[4]
FILE_NAMES[0] = b"stat"
FILE_NAMES[1] = b"io"
FILE_NAMES[2] = b"status"
FILE_NAMES[3] = b"schedstat"


cdef inline int classify_errno(int err) noexcept nogil:
    if err == ENOENT or err == ESRCH:
        return READ_GONE
    if err == EACCES or err == EPERM:
        return READ_DENIED
    return READ_FAILED


cdef int pread_whole(int fd, char *buf, Py_ssize_t *n) noexcept nogil:
    """One ``pread`` at offset 0 (procfs generates the file per read); NUL-terminated."""
    cdef ssize_t got
    while True:
        got = pread(fd, buf, BUF_SIZE - 1, 0)
        if got >= 0:
            buf[got] = 0
            n[0] = got
            return READ_OK
        if errno != EINTR:
            return classify_errno(errno)


cdef bint sample_stat(const char *data, Py_ssize_t n, char *state, long long *v,
                      long long *start) noexcept nogil:
    """/proc/PID/stat through the shared parser: state, utime+stime,
    cutime+cstime, num_threads, rss into ``v``; starttime into ``start``."""
    cdef StatFields f
    if not parse_stat(data, n, &f):
        return False
    state[0] = f.state
    v[F_CPU] = f.utime + f.stime
    v[F_CHILD] = f.cutime + f.cstime
    v[F_THREADS] = f.num_threads
    v[F_RSS] = f.rss
    start[0] = f.starttime
    return True


cdef bint sample_io(const char *data, Py_ssize_t n, long long *v) noexcept nogil:
    """/proc/PID/io through the shared parser (syscalls = syscr + syscw)."""
    cdef long long x[N_IO]
    if not parse_io(data, n, x):
        return False
    v[F_RCHAR] = x[0]
    v[F_WCHAR] = x[1]
    v[F_SYSCALLS] = x[2] + x[3]
    v[F_READ_BYTES] = x[4]
    v[F_WRITE_BYTES] = x[5]
    return True


cdef bint sample_status(const char *data, Py_ssize_t n, long long *v) noexcept nogil:
    """/proc/PID/status context switch counts (man 5 proc, since Linux 2.6.23)."""
    return (status_count(data, n, b"voluntary_ctxt_switches:", 24, &v[F_VOL])
            and status_count(data, n, b"nonvoluntary_ctxt_switches:", 27, &v[F_INVOL]))


cdef bint sample_schedstat(const char *data, Py_ssize_t n, long long *v) noexcept nogil:
    """/proc/PID/schedstat: ns on CPU, ns waiting on a run queue, timeslices."""
    cdef const char *p = data
    return (parse_int(&p, data + n, &v[F_RUN]) and parse_int(&p, data + n, &v[F_WAIT])
            and parse_int(&p, data + n, &v[F_SLICES])
            and v[F_RUN] >= 0 and v[F_WAIT] >= 0 and v[F_SLICES] >= 0)


cdef int open_file(int root_fd, int pid, int slot) noexcept nogil:
    """Open ``<pid>/<FILES[slot]>`` under the root; -errno-class on failure."""
    cdef char path[48]
    cdef int fd
    snprintf(path, sizeof(path), b"%d/%s", pid, FILE_NAMES[slot])
    fd = openat(root_fd, path, O_RDONLY | O_CLOEXEC)
    if fd < 0:
        return -classify_errno(errno)
    return fd


def choose_mode(n, budget):
    """The cheapest mode whose kept fds fit ``budget``, and why: ``pread``
    keeps all four files open (4 fds per candidate), ``pread-stat-io`` keeps
    ``stat`` and ``io`` and opens ``status``/``schedstat`` per pass (2 fds),
    ``reopen`` keeps nothing and opens all four per pass (0 fds)."""
    for mode, per in MODES.items():
        if per * n <= budget:
            return mode, f"{per} fds x {n} candidates fit the budget of {budget} free fds"
    raise AssertionError("reopen needs no fds")   # pragma: no cover


cdef class ProcSampler:
    """Per-candidate samples of a fixed set of processes, one pass per call.

    Parameters
    ----------
    pids : int array, shape (n,)
    start_ticks : uint64 array, shape (n,)
        Each candidate's ``stat`` field 22 from the scan that chose it. A pid
        whose process has another start time now (or is gone) is refused at
        open (``reason`` "refused") and never sampled.
    root : str or bytes
        The procfs root (``/proc``, or a fixture tree).
    mode : str, optional
        ``"pread"``, ``"pread-stat-io"`` or ``"reopen"`` (see
        :func:`choose_mode`); by default the cheapest that fits
        :func:`fd_budget`. The choice and the reason are in ``mode`` and
        ``mode_reason``.
    max_fds : int, optional
        Budget of kept fds to use instead of :func:`fd_budget`.
    ctx_switches : bool
        Read ``status`` for ``vol_ctx``/``invol_ctx``. It is the dearest file
        (about half of a pass, see docs/collector.md); without it those
        columns stay -1 and ``timeslices`` (schedstat) still counts how often
        the process was scheduled.

    Notes
    -----
    All fds are ``O_CLOEXEC``. A file other than ``stat`` that cannot be
    opened (``io`` of another user's process; ``io`` or ``schedstat`` on a
    kernel built without them) leaves its columns at -1. In the per-pass
    modes every file of a
    candidate is opened before its ``stat`` is read, so when the start time
    still matches at the read, the other files belong to the same process.
    """
    cdef readonly Py_ssize_t n
    cdef readonly str mode
    cdef readonly str mode_reason
    cdef readonly int fds_per_candidate
    cdef readonly bint ctx_switches
    cdef int root_fd
    cdef int *fds
    cdef int *pid
    cdef unsigned long long *start
    cdef unsigned char *why
    cdef unsigned char *io_denied
    cdef char *buf
    cdef bint closed

    def __cinit__(self, *args, **kwargs):
        self.root_fd = -1
        self.fds = NULL
        self.closed = True

    def __init__(self, pids, start_ticks, root=b"/proc", mode=None, max_fds=None, ctx_switches=True):
        cdef const int[::1] pid_v = np.ascontiguousarray(pids, dtype=np.int32)
        cdef const unsigned long long[::1] start_v = np.ascontiguousarray(start_ticks, dtype=np.uint64)
        if pid_v.shape[0] != start_v.shape[0]:
            raise ValueError(f"pids and start_ticks differ in length: {pid_v.shape[0]} != {start_v.shape[0]}")
        self.n = pid_v.shape[0]
        if mode is None:
            budget = max_fds if max_fds is not None else fd_budget()[0]
            mode, reason = choose_mode(self.n, budget)
        elif mode in MODES:
            reason = "requested"
        else:
            raise ValueError(f"mode must be one of {sorted(MODES)}, got {mode!r}")
        self.mode = mode
        self.mode_reason = reason
        self.fds_per_candidate = MODES[mode]
        self.ctx_switches = ctx_switches
        cdef bytes root_b = os.fsencode(root)
        self.root_fd = c_open(root_b, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if self.root_fd < 0:
            raise OSError(errno, f"cannot open procfs root {root_b.decode(errors='replace')!r}")
        cdef Py_ssize_t m = max(self.n, 1)
        self.fds = <int *>malloc(m * N_FILES * sizeof(int))
        self.pid = <int *>malloc(m * sizeof(int))
        self.start = <unsigned long long *>malloc(m * sizeof(unsigned long long))
        self.why = <unsigned char *>malloc(m)
        self.io_denied = <unsigned char *>malloc(m)
        self.buf = <char *>malloc(BUF_SIZE)
        if not (self.fds and self.pid and self.start and self.why and self.io_denied and self.buf):
            raise MemoryError()
        cdef Py_ssize_t i
        for i in range(self.n * N_FILES):
            self.fds[i] = -1
        for i in range(self.n):
            self.pid[i] = pid_v[i]
            self.start[i] = start_v[i]
            self.why[i] = R_ALIVE
            self.io_denied[i] = 0
        self.closed = False
        cdef int err = 0
        with nogil:
            for i in range(self.n):
                err = self._open(i)
                if err:
                    break
        if err:
            self.close()
            raise OSError(err, f"out of file descriptors opening {self.n} candidates in mode {mode!r}; "
                               "pass mode='reopen' or raise RLIMIT_NOFILE")

    cdef int _open(self, Py_ssize_t i) noexcept nogil:
        """Open candidate ``i``'s kept files and check its start time; returns
        errno only when the process ran out of fds (that is not per-process)."""
        cdef int slot, fd
        cdef int *fds = self.fds + i * N_FILES
        cdef Py_ssize_t n
        cdef char state
        cdef long long v[N_FIELDS]
        cdef long long start
        cdef int stat_fd
        for slot in range(self.fds_per_candidate):
            if slot == S_STATUS and not self.ctx_switches:
                continue
            fd = open_file(self.root_fd, self.pid[i], slot)
            if fd == -READ_FAILED and (errno == EMFILE or errno == ENFILE):
                return errno
            if fd < 0:
                if slot == S_STAT:
                    self._kill(i, R_REFUSED)
                    return 0
                # Denied (io of another user) or absent (kernel without
                # task IO accounting or schedstats): those columns stay -1.
                if slot == S_IO and fd == -READ_DENIED:
                    self.io_denied[i] = 1
                continue
            fds[slot] = fd
        stat_fd = fds[S_STAT] if self.fds_per_candidate else open_file(self.root_fd, self.pid[i], S_STAT)
        if stat_fd < 0:
            self._kill(i, R_REFUSED)
            return 0
        if (pread_whole(stat_fd, self.buf, &n) != READ_OK or not sample_stat(self.buf, n, &state, v, &start)
                or <unsigned long long>start != self.start[i]):
            self._kill(i, R_REFUSED)
        if not self.fds_per_candidate:
            close(stat_fd)
        return 0

    cdef void _kill(self, Py_ssize_t i, unsigned char reason) noexcept nogil:
        """Close candidate ``i``'s fds and record why it is no longer sampled."""
        cdef int slot
        cdef int *fds = self.fds + i * N_FILES
        for slot in range(N_FILES):
            if fds[slot] >= 0:
                close(fds[slot])
                fds[slot] = -1
        if self.why[i] == R_ALIVE:
            self.why[i] = reason

    cdef void _pass(self, long long[:, :] out, unsigned char[::1] state,
                    unsigned char[::1] alive) noexcept nogil:
        cdef Py_ssize_t i, n
        cdef int slot, rc, k
        cdef int fd[4]
        cdef long long v[N_FIELDS]
        cdef long long start
        cdef char st
        cdef int kept = self.fds_per_candidate
        cdef unsigned char gone
        for i in range(self.n):
            for k in range(N_FIELDS):
                v[k] = -1
            st = 0
            gone = R_ALIVE
            if self.why[i] == R_ALIVE:
                for slot in range(N_FILES):
                    if slot < kept:
                        fd[slot] = self.fds[i * N_FILES + slot]
                    elif (slot == S_IO and self.io_denied[i]) or (slot == S_STATUS and not self.ctx_switches):
                        fd[slot] = -1
                    else:
                        fd[slot] = open_file(self.root_fd, self.pid[i], slot)
                # stat: identity first
                if fd[S_STAT] < 0:
                    gone = R_EXITED if fd[S_STAT] == -READ_GONE else R_DENIED
                else:
                    rc = pread_whole(fd[S_STAT], self.buf, &n)
                    if rc == READ_GONE:
                        gone = R_EXITED
                    elif rc != READ_OK:
                        gone = R_DENIED
                    elif not sample_stat(self.buf, n, &st, v, &start):
                        gone = R_MALFORMED
                    elif <unsigned long long>start != self.start[i]:
                        gone = R_REUSED
                if not gone and fd[S_IO] >= 0:
                    rc = pread_whole(fd[S_IO], self.buf, &n)
                    if rc == READ_GONE:
                        gone = R_EXITED
                    elif rc == READ_OK:
                        sample_io(self.buf, n, v)
                if not gone and fd[S_STATUS] >= 0:
                    rc = pread_whole(fd[S_STATUS], self.buf, &n)
                    if rc == READ_GONE:
                        gone = R_EXITED
                    elif rc == READ_OK:
                        sample_status(self.buf, n, v)
                if not gone and fd[S_SCHED] >= 0:
                    rc = pread_whole(fd[S_SCHED], self.buf, &n)
                    if rc == READ_GONE:
                        gone = R_EXITED
                    elif rc == READ_OK:
                        sample_schedstat(self.buf, n, v)
                for slot in range(kept, N_FILES):
                    if fd[slot] >= 0:
                        close(fd[slot])
                if gone:
                    self._kill(i, gone)
                    for k in range(N_FIELDS):
                        v[k] = -1
                    st = 0
            for k in range(N_FIELDS):
                out[k, i] = v[k]
            state[i] = <unsigned char>st
            alive[i] = self.why[i] == R_ALIVE

    def sample(self, long long[:, :] out, unsigned char[::1] state, unsigned char[::1] alive):
        """One pass over all candidates (GIL released).

        Parameters
        ----------
        out : int64 array, shape (len(FIELDS), n), written
            One row per field of :data:`FIELDS`; -1 where unknown (dead
            candidate, unreadable file). Any strided view works, e.g.
            ``series[:, t, :]`` of a (fields, ticks, n) array.
        state : uint8 array, shape (n,), written
            The ``stat`` state letter (ASCII), 0 for dead candidates.
        alive : uint8 or bool-as-uint8 array, shape (n,), written
            1 while the candidate is still sampled.

        Returns
        -------
        int : candidates alive after this pass.
        """
        if self.closed:
            raise ValueError("sample() on a closed ProcSampler")
        if out.shape[0] != N_FIELDS or out.shape[1] != self.n or state.shape[0] != self.n \
                or alive.shape[0] != self.n:
            raise ValueError(f"out must be ({N_FIELDS}, {self.n}) and state, alive ({self.n},); "
                             f"got ({out.shape[0]}, {out.shape[1]}), {state.shape[0]}, {alive.shape[0]}")
        with nogil:
            self._pass(out, state, alive)
        return self.n_alive

    def new_arrays(self):
        """Fresh ``(out, state, alive)`` arrays for :meth:`sample`."""
        return (np.full((N_FIELDS, self.n), -1, np.int64), np.zeros(self.n, np.uint8),
                np.zeros(self.n, np.uint8))

    def drop(self, indices):
        """Stop sampling the candidates at ``indices`` and close their fds."""
        for i in np.atleast_1d(np.asarray(indices, dtype=np.intp)):
            if not 0 <= i < self.n:
                raise IndexError(f"candidate index {i} out of range for {self.n} candidates")
            if not self.closed:
                self._kill(i, R_DROPPED)

    @property
    def reason(self):
        """uint8 array (n,): index into :data:`REASONS`; 0 while sampled."""
        out = np.zeros(self.n, np.uint8)
        if self.n:
            memcpy(<void *>cnp.PyArray_DATA(out), self.why, self.n)
        return out

    @property
    def io_denied(self):
        """bool array (n,): ``io`` was not readable at open (its columns stay -1)."""
        out = np.zeros(self.n, np.uint8)
        if self.n:
            memcpy(<void *>cnp.PyArray_DATA(out), self.io_denied, self.n)
        return out.view(bool)

    @property
    def n_alive(self):
        """Candidates still sampled."""
        cdef Py_ssize_t i, k = 0
        if self.closed:
            return 0
        for i in range(self.n):
            k += self.why[i] == R_ALIVE
        return k

    @property
    def kept_fds(self):
        """Descriptors held open now (excluding the procfs root)."""
        cdef Py_ssize_t i, k = 0
        if self.fds == NULL:
            return 0
        for i in range(self.n * N_FILES):
            k += self.fds[i] >= 0
        return k

    def close(self):
        """Close every kept fd and the root; the sampler can no longer sample."""
        cdef Py_ssize_t i
        if self.fds != NULL:
            for i in range(self.n):
                self._kill(i, R_CLOSED)
        if self.root_fd >= 0:
            close(self.root_fd)
            self.root_fd = -1
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __dealloc__(self):
        cdef Py_ssize_t i
        if self.fds != NULL:
            for i in range(self.n * N_FILES):
                if self.fds[i] >= 0:
                    close(self.fds[i])
        if self.root_fd >= 0:
            close(self.root_fd)
        free(self.fds)
        free(self.pid)
        free(self.start)
        free(self.why)
        free(self.io_denied)
        free(self.buf)


# --- system-wide samples ----------------------------------------------------------

#: Columns of :meth:`SystemSampler.sample` (float64, NaN = absent), in order.
SYSTEM_FIELDS = (
    "load1", "load5", "load15", "procs_running", "procs_total",
    "cpu_some_avg10", "cpu_some_total_us", "cpu_full_avg10", "cpu_full_total_us",
    "io_some_avg10", "io_some_total_us", "io_full_avg10", "io_full_total_us",
    "memory_some_avg10", "memory_some_total_us", "memory_full_avg10", "memory_full_total_us",
    "mem_total_kb", "mem_available_kb", "swap_total_kb", "swap_free_kb",
)
cdef enum:
    N_SYSTEM = 21
    SYS_PSI0 = 5
    SYS_MEM0 = 17

SYSTEM_FILES = ("loadavg", "pressure/cpu", "pressure/io", "pressure/memory", "meminfo")


cdef bint parse_loadavg(const char *data, Py_ssize_t n, double *out) noexcept nogil:
    """/proc/loadavg: ``1.00 0.50 0.25 2/345 6789`` (man 5 proc)."""
    cdef char *p = <char *>data
    cdef char *q
    cdef int k
    for k in range(3):
        out[k] = strtod(p, &q)
        if q == p:
            return False
        p = q
    cdef const char *c = p
    cdef long long running, total
    if not parse_int(&c, data + n, &running) or c[0] != c'/':
        return False
    c += 1
    if not parse_int(&c, data + n, &total):
        return False
    out[3] = running
    out[4] = total
    return True


cdef void parse_psi(const char *data, Py_ssize_t n, double *out) noexcept nogil:
    """/proc/pressure/*: ``some avg10=.. avg60=.. avg300=.. total=..`` and the
    same for ``full`` (Documentation/accounting/psi.rst); ``cpu`` has a
    ``full`` line since 5.13. Lines that are missing leave NaN."""
    cdef const char *end = data + n
    cdef const char *line = data
    cdef const char *line_end
    cdef const char *p
    cdef char *q
    cdef long long total
    cdef int base
    while line < end:
        line_end = <const char *>memchr(line, c'\n', end - line)
        if line_end == NULL:
            line_end = end
        base = -1
        if line_end - line >= 4:
            if memcmp(line, b"some", 4) == 0:
                base = 0
            elif memcmp(line, b"full", 4) == 0:
                base = 2
        if base >= 0:
            p = <const char *>memmem(line, line_end - line, b"avg10=", 6)
            if p != NULL:
                out[base] = strtod(p + 6, &q)
                if q == p + 6:
                    out[base] = NAN
            p = <const char *>memmem(line, line_end - line, b"total=", 6)
            if p != NULL:
                p += 6
                if parse_int(&p, line_end, &total):
                    out[base + 1] = total
        line = line_end + 1


cdef void parse_meminfo(const char *data, Py_ssize_t n, double *out) noexcept nogil:
    """/proc/meminfo MemTotal, MemAvailable (since 3.14), SwapTotal, SwapFree, in kB."""
    cdef long long v
    if status_count(data, n, b"MemTotal:", 9, &v):
        out[0] = v
    if status_count(data, n, b"MemAvailable:", 13, &v):
        out[1] = v
    if status_count(data, n, b"SwapTotal:", 10, &v):
        out[2] = v
    if status_count(data, n, b"SwapFree:", 9, &v):
        out[3] = v


cdef class SystemSampler:
    """System samples from kept fds on ``loadavg``, ``pressure/{cpu,io,memory}``
    and ``meminfo`` under ``root``. A file that is absent (no PSI on this
    kernel) or unreadable leaves its columns NaN; ``present`` says which files
    were opened."""
    cdef int fds[5]
    cdef char *buf

    def __cinit__(self, root=b"/proc"):
        cdef int k
        cdef bytes path
        for k in range(5):
            self.fds[k] = -1
        self.buf = <char *>malloc(BUF_SIZE)
        if self.buf == NULL:
            raise MemoryError()
        base = os.fsencode(root)
        for k, name in enumerate(SYSTEM_FILES):
            path = os.path.join(base, name.encode())
            self.fds[k] = c_open(path, O_RDONLY | O_CLOEXEC)

    @property
    def present(self):
        """dict: file name -> whether it is open and sampled."""
        return {name: self.fds[k] >= 0 for k, name in enumerate(SYSTEM_FILES)}

    def sample(self, double[::1] out):
        """Fill ``out`` (float64, shape (len(SYSTEM_FIELDS),)) with one sample."""
        if out.shape[0] != N_SYSTEM:
            raise ValueError(f"out must have shape ({N_SYSTEM},), got ({out.shape[0]},)")
        cdef int k
        cdef Py_ssize_t n
        with nogil:
            for k in range(N_SYSTEM):
                out[k] = NAN
            if self.fds[0] >= 0 and pread_whole(self.fds[0], self.buf, &n) == READ_OK:
                if not parse_loadavg(self.buf, n, &out[0]):
                    for k in range(5):
                        out[k] = NAN
            for k in range(3):
                if self.fds[1 + k] >= 0 and pread_whole(self.fds[1 + k], self.buf, &n) == READ_OK:
                    parse_psi(self.buf, n, &out[SYS_PSI0 + 4 * k])
            if self.fds[4] >= 0 and pread_whole(self.fds[4], self.buf, &n) == READ_OK:
                parse_meminfo(self.buf, n, &out[SYS_MEM0])

    def close(self):
        """Close the kept fds."""
        cdef int k
        for k in range(5):
            if self.fds[k] >= 0:
                close(self.fds[k])
                self.fds[k] = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __dealloc__(self):
        self.close()
        free(self.buf)


# --- children, for the lower-rate extras -----------------------------------------

def children_activity(root, const int[::1] pids):
    """Live direct children of each pid: how many, and their CPU ticks.

    One pass over ``<root>/*/stat`` (``/proc/PID/task/TID/children`` needs
    CONFIG_PROC_CHILDREN, which many kernels lack). A pid of -1 or 0 matches
    nothing (dead candidates).

    Returns
    -------
    n_children : int32 array (n,)
    children_ticks : int64 array (n,), utime + stime summed over those children
    """
    cdef Py_ssize_t n = pids.shape[0], lo, hi, mid, j
    order_a = np.argsort(np.asarray(pids), kind="stable").astype(np.intp)
    sorted_a = np.asarray(pids)[order_a].astype(np.int32)
    cdef const Py_ssize_t[::1] order = order_a
    cdef const int[::1] sorted_pids = sorted_a
    count_a = np.zeros(n, np.int32)
    ticks_a = np.zeros(n, np.int64)
    cdef int[::1] count = count_a
    cdef long long[::1] ticks = ticks_a
    cdef bytes root_b = os.fsencode(root)
    cdef int root_fd = c_open(root_b, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if root_fd < 0:
        raise OSError(errno, f"cannot open procfs root {root_b!r}")
    cdef int dir_fd = openat(root_fd, b".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    cdef DIR *d = fdopendir(dir_fd) if dir_fd >= 0 else NULL
    cdef dirent *entry
    cdef char *buf = <char *>malloc(BUF_SIZE)
    cdef char path[300]
    cdef int fd
    cdef Py_ssize_t got
    cdef StatFields f
    cdef long long ppid
    if d == NULL or buf == NULL:
        if dir_fd >= 0 and d == NULL:
            close(dir_fd)
        close(root_fd)
        free(buf)
        raise OSError(errno, "cannot list procfs root")
    with nogil:
        while True:
            entry = readdir(d)
            if entry == NULL:
                break
            if not (c'1' <= entry.d_name[0] <= c'9'):
                continue
            snprintf(path, sizeof(path), b"%s/stat", entry.d_name)
            fd = openat(root_fd, path, O_RDONLY | O_CLOEXEC)
            if fd < 0:
                continue
            if pread_whole(fd, buf, &got) != READ_OK or not parse_stat(buf, got, &f):
                close(fd)
                continue
            close(fd)
            ppid = f.ppid
            if ppid <= 0:
                continue
            lo, hi = 0, n
            while lo < hi:
                mid = (lo + hi) // 2
                if sorted_pids[mid] < ppid:
                    lo = mid + 1
                else:
                    hi = mid
            j = lo
            while j < n and sorted_pids[j] == ppid:
                count[order[j]] += 1
                ticks[order[j]] += f.utime + f.stime
                j += 1
    closedir(d)
    close(root_fd)
    free(buf)
    return count_a, ticks_a

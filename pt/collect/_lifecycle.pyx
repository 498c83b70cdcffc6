"""Lifecycle sampler: which processes were born and which are gone, many times a second, in C.

:class:`LifeSampler` keeps the procfs root directory open and, each
:meth:`LifeSampler.tick`, lists its pids (``getdents`` through ``readdir`` on
the kept, rewound directory) and merges the sorted list with the pids alive
at the previous tick. Only a *new* pid is read: its ``stat`` (ppid, start
time, comm, kernel-thread flag) and the first 4 KiB of its ``cmdline``
(one copy kept per distinct command line). A missing pid is gone.
Nothing is read for a pid known from the previous tick, except on a
verifying tick, which re-reads every ``stat`` so that a pid reused between
two ticks (another start time) ends the old life and starts a new one.

A *life* is one process identity ``(pid, start_ticks)`` with the ticks it
was first and last seen at and the tick that found it gone (-1: never).
CPU of the processes alive at the start is measured by the quick scan's
window, not here: a tick costs the listing plus the births.

Errors are translated here, as in ``_procfs``: a new pid whose ``stat`` is
gone (it lived less than the listing took) or unreadable or malformed is
counted in ``missed`` and not a life; nothing raises for one process.
"""
from libc.errno cimport errno, ENOENT, ESRCH, EINTR
from libc.stdlib cimport malloc, realloc, free, qsort
from libc.string cimport memchr, memcmp
from posix.fcntl cimport openat, O_RDONLY, O_CLOEXEC, O_DIRECTORY, open as c_open
from posix.unistd cimport read, close
from posix.time cimport clock_gettime, timespec, CLOCK_MONOTONIC

import numpy as np

from pt.collect._parse cimport PID_MAX_LIMIT, StatFields, is_pid, parse_int, parse_stat, split_argv
from pt.collect._posix cimport DIR, closedir, dirent, fdopendir, readdir, rewinddir, snprintf

cdef enum:
    READ_OK = 0
    READ_GONE = 1
    READ_FAILED = 2
    PF_KTHREAD = 0x00200000      # stat flags: a kernel thread (include/linux/sched.h)
    # Bytes of a new life's command line kept (the kernel allows 2 MiB): lives accumulate for the
    # whole watch, and a fork loop's children share its argv, so a 1 MiB argv kept per birth made
    # pt incidents hold ~1 MiB per child (300 MB in 10 s). pt.infer.incidents keys commands on as many.
    CMDLINE_KEPT = 4096

cdef struct Life:
    int pid
    int ppid
    long long start
    int first
    int last
    int gone
    int row0
    bint kernel


cdef int read_whole(int dirfd, const char *path, char **buf, size_t *cap, size_t *n,
                    size_t limit) noexcept nogil:
    """Read ``path`` under ``dirfd`` into ``*buf`` (grown as needed, at most
    ``limit`` bytes kept), NUL-terminated; READ_GONE when the process is gone."""
    cdef int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC)
    cdef ssize_t got
    cdef size_t size
    cdef char *grown
    if fd < 0:
        return READ_GONE if errno == ENOENT or errno == ESRCH else READ_FAILED
    n[0] = 0
    while True:
        if cap[0] - n[0] < 4096 and cap[0] < limit + 1:
            size = min(cap[0] * 2, limit + 1)            # the NUL's byte beside at most ``limit`` kept
            grown = <char *>realloc(buf[0], size)
            if grown == NULL:
                close(fd)
                return READ_FAILED
            buf[0] = grown
            cap[0] = size
        if n[0] >= limit or cap[0] - n[0] <= 1:   # at the limit: the rest is cut
            break
        got = read(fd, buf[0] + n[0], min(cap[0] - n[0] - 1, limit - n[0]))
        if got > 0:
            n[0] += got
        elif got == 0:
            break
        elif errno != EINTR:
            got = errno
            close(fd)
            return READ_GONE if got == ENOENT or got == ESRCH else READ_FAILED
    close(fd)
    buf[0][n[0]] = 0
    return READ_OK


cdef int compare_int(const void *a, const void *b) noexcept nogil:
    cdef int x = (<const int *>a)[0], y = (<const int *>b)[0]
    return (x > y) - (x < y)


cdef double monotonic() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec + ts.tv_nsec * 1e-9


cdef void *_grown(void *block, size_t size) except NULL:
    cdef void *out = realloc(block, size)
    if out == NULL:
        raise MemoryError()
    return out


cdef class LifeSampler:
    """Births and exits of every process under a procfs root, tick by tick.

    Parameters
    ----------
    root : str or bytes
        The procfs root (``/proc``, or a fixture tree).

    Notes
    -----
    :meth:`seed` adds the lives of a full read of the table as tick 0;
    each :meth:`tick` then lists the pids and reads the new ones. Times are
    ``CLOCK_MONOTONIC`` seconds (``time.monotonic()``), taken as the listing
    starts. :meth:`lives` returns everything as columns.
    """
    cdef int root_fd
    cdef DIR *dir
    cdef char *buf
    cdef size_t cap
    cdef Life *life
    cdef Py_ssize_t n_lives, cap_lives
    cdef int *alive_pid
    cdef int *alive_life
    cdef int *next_pid
    cdef int *next_life
    cdef int *listed
    cdef Py_ssize_t n_alive, cap_pids
    cdef double *times
    cdef Py_ssize_t cap_ticks
    cdef readonly int ticks
    cdef readonly long long missed
    cdef list comm
    cdef list argv
    cdef dict argv_of            # command line bytes (at most CMDLINE_KEPT) -> argv: one copy per command

    def __cinit__(self, root=b"/proc"):
        cdef bytes root_b = root.encode() if isinstance(root, str) else bytes(root)
        cdef int dup_fd
        self.root_fd = c_open(root_b, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if self.root_fd < 0:
            raise OSError(errno, f"cannot open procfs root {root_b.decode(errors='replace')!r}")
        dup_fd = openat(self.root_fd, b".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        self.dir = fdopendir(dup_fd) if dup_fd >= 0 else NULL
        if self.dir == NULL:
            if dup_fd >= 0:
                close(dup_fd)
            raise OSError(errno, "cannot list procfs root")
        self.cap = 8192
        self.buf = <char *>malloc(self.cap)
        self.cap_lives = self.cap_pids = 1024
        self.cap_ticks = 256
        self.life = <Life *>malloc(self.cap_lives * sizeof(Life))
        self.alive_pid = <int *>malloc(self.cap_pids * sizeof(int))
        self.alive_life = <int *>malloc(self.cap_pids * sizeof(int))
        self.next_pid = <int *>malloc(self.cap_pids * sizeof(int))
        self.next_life = <int *>malloc(self.cap_pids * sizeof(int))
        self.listed = <int *>malloc(self.cap_pids * sizeof(int))
        self.times = <double *>malloc(self.cap_ticks * sizeof(double))
        if (self.buf == NULL or self.life == NULL or self.alive_pid == NULL or self.alive_life == NULL
                or self.next_pid == NULL or self.next_life == NULL or self.listed == NULL or self.times == NULL):
            raise MemoryError()
        self.comm, self.argv, self.argv_of = [], [], {}

    def __dealloc__(self):
        if self.dir != NULL:
            closedir(self.dir)
        if self.root_fd >= 0:
            close(self.root_fd)
        free(self.buf)
        free(self.life)
        free(self.alive_pid)
        free(self.alive_life)
        free(self.next_pid)
        free(self.next_life)
        free(self.listed)
        free(self.times)

    cdef int _grow_pids(self, Py_ssize_t need) except -1:
        cdef Py_ssize_t cap = self.cap_pids
        while cap < need:
            cap *= 2
        if cap == self.cap_pids:
            return 0
        self.alive_pid = <int *>_grown(self.alive_pid, cap * sizeof(int))
        self.alive_life = <int *>_grown(self.alive_life, cap * sizeof(int))
        self.next_pid = <int *>_grown(self.next_pid, cap * sizeof(int))
        self.next_life = <int *>_grown(self.next_life, cap * sizeof(int))
        self.listed = <int *>_grown(self.listed, cap * sizeof(int))
        self.cap_pids = cap
        return 0

    cdef int _new_tick(self) except -1:
        if self.ticks == self.cap_ticks:
            self.times = <double *>_grown(self.times, 2 * self.cap_ticks * sizeof(double))
            self.cap_ticks *= 2
        self.ticks += 1
        return self.ticks - 1

    cdef int _add_life(self, int pid, int ppid, long long start, bint kernel, int tick, int row0,
                       comm, argv) except -1:
        if self.n_lives == self.cap_lives:
            self.life = <Life *>_grown(self.life, 2 * self.cap_lives * sizeof(Life))
            self.cap_lives *= 2
        cdef Life *lf = &self.life[self.n_lives]
        lf.pid, lf.ppid, lf.start, lf.kernel = pid, ppid, start, kernel
        lf.first = lf.last = tick
        lf.gone = -1
        lf.row0 = row0
        self.comm.append(comm)
        self.argv.append(argv)
        self.n_lives += 1
        return <int>(self.n_lives - 1)

    def seed(self, pid, ppid, start_ticks, kernel_thread, comm, cmdline, double at):
        """Tick 0: the lives of one full read of the table (its columns
        ``pid, ppid, start_ticks, kernel_thread, comm, cmdline``; their rows are
        ``row0``), taken at ``at`` (monotonic seconds). Only once, first."""
        if self.ticks:
            raise ValueError("seed must come before the first tick")
        cdef const long long[::1] pid_v = np.ascontiguousarray(pid, dtype=np.int64)
        cdef const long long[::1] ppid_v = np.ascontiguousarray(ppid, dtype=np.int64)
        cdef const long long[::1] start_v = np.ascontiguousarray(start_ticks, dtype=np.int64)
        cdef const unsigned char[::1] kernel_v = np.ascontiguousarray(kernel_thread, dtype=np.uint8)
        cdef Py_ssize_t n = pid_v.shape[0], k, i, r
        if not (ppid_v.shape[0] == start_v.shape[0] == kernel_v.shape[0] == len(comm) == len(cmdline) == n):
            raise ValueError("seed columns differ in length")
        cdef long long[::1] order = np.argsort(np.asarray(pid_v), kind="stable").astype(np.int64)
        tick = self._new_tick()
        self.times[tick] = at
        self._grow_pids(n + 1)
        self.n_alive = 0
        for k in range(n):
            r = order[k]
            if not is_pid(pid_v[r]) or (self.n_alive and self.alive_pid[self.n_alive - 1] == pid_v[r]):
                continue                         # a duplicate or impossible pid in a hostile read
            i = self._add_life(<int>pid_v[r], <int>ppid_v[r], start_v[r], kernel_v[r] != 0, tick, <int>r,
                               comm[r], cmdline[r])
            self.alive_pid[self.n_alive] = <int>pid_v[r]
            self.alive_life[self.n_alive] = <int>i
            self.n_alive += 1

    cdef Py_ssize_t _list(self) except -1:
        """The pids under the root now, sorted, into ``listed``."""
        cdef dirent *entry
        cdef const char *name
        cdef long long pid
        cdef Py_ssize_t n = 0
        cdef bint is_sorted = True
        rewinddir(self.dir)
        while True:
            with nogil:
                entry = readdir(self.dir)
            if entry == NULL:
                break
            name = entry.d_name
            if not (c'1' <= name[0] <= c'9'):
                continue
            pid = 0
            while c'0' <= name[0] <= c'9' and pid <= PID_MAX_LIMIT:
                pid = pid * 10 + (name[0] - c'0')
                name += 1
            if name[0] != 0 or not is_pid(pid):
                continue
            if n == self.cap_pids:
                self._grow_pids(n + 1)
            if n and self.listed[n - 1] >= pid:
                is_sorted = False
            self.listed[n] = <int>pid
            n += 1
        if not is_sorted:
            qsort(self.listed, n, sizeof(int), compare_int)
        return n

    cdef int _read_new(self, int pid, int tick, StatFields *s) except -2:
        """Read a pid's stat into ``s``: 1 read, 0 not (gone, unreadable, malformed: missed)."""
        cdef char path[48]
        cdef size_t n
        cdef int rc
        snprintf(path, sizeof(path), b"%d/stat", pid)
        with nogil:
            rc = read_whole(self.root_fd, path, &self.buf, &self.cap, &n, 65536)
        if rc != READ_OK or not parse_stat(self.buf, n, s):
            return 0
        return 1

    cdef int _born(self, int pid, int tick, StatFields *s) except -1:
        """A new life from a parsed stat in ``buf``, with its cmdline."""
        cdef char path[48]
        cdef size_t n
        cdef int rc
        comm = self.buf[s.comm_start:s.comm_start + s.comm_len].decode("utf-8", "backslashreplace")
        snprintf(path, sizeof(path), b"%d/cmdline", pid)
        with nogil:
            rc = read_whole(self.root_fd, path, &self.buf, &self.cap, &n, CMDLINE_KEPT)
        argv = None
        if rc == READ_OK:
            raw = self.buf[:n]
            argv = self.argv_of.get(raw)
            if argv is None:
                argv = self.argv_of[raw] = split_argv(self.buf, n)
        return self._add_life(pid, <int>s.ppid, s.starttime, (s.flags & PF_KTHREAD) != 0, tick, -1, comm, argv)

    def tick(self, bint verify=False):
        """List the pids and read the new ones; with ``verify``, re-read the
        stat of every known pid too (a changed start time: pid reuse).
        Returns the tick's number."""
        if not self.ticks:
            raise ValueError("seed the sampler with a first read before ticking")
        cdef double at = monotonic()
        cdef Py_ssize_t n = self._list()
        cdef int tick = self._new_tick()
        cdef Py_ssize_t i = 0, j = 0, out = 0
        cdef int pid, row
        cdef StatFields s
        self.times[tick] = at
        self._grow_pids(self.n_alive + n + 1)
        while i < self.n_alive or j < n:
            if j == n or (i < self.n_alive and self.alive_pid[i] < self.listed[j]):
                self.life[self.alive_life[i]].gone = tick          # gone since the last tick
                i += 1
                continue
            pid = self.listed[j]
            if i < self.n_alive and self.alive_pid[i] == pid:
                row = self.alive_life[i]
                i += 1
                j += 1
                if verify and self._read_new(pid, tick, &s) and s.starttime != self.life[row].start:
                    self.life[row].gone = tick                       # reused between two ticks
                    row = self._born(pid, tick, &s)
                else:
                    self.life[row].last = tick
            else:
                j += 1
                if not self._read_new(pid, tick, &s):
                    self.missed += 1
                    continue
                row = self._born(pid, tick, &s)
            self.next_pid[out] = pid
            self.next_life[out] = row
            out += 1
        self.alive_pid, self.next_pid = self.next_pid, self.alive_pid
        self.alive_life, self.next_life = self.next_life, self.alive_life
        self.n_alive = out
        return tick

    def lives(self):
        """Every life so far as columns: ``pid, ppid`` (int64, the ppid it was
        first seen with), ``start_ticks`` (int64), ``kernel_thread`` (bool),
        ``first, last, gone`` (int64 tick numbers; gone -1: not seen gone),
        ``row0`` (int64, its row in the seed, -1: born later), ``comm`` and
        ``cmdline`` (object); and ``times``: each tick's monotonic seconds."""
        cdef Py_ssize_t n = self.n_lives, k
        cols = {name: np.empty(n, dtype=np.int64)
                for name in ("pid", "ppid", "start_ticks", "first", "last", "gone", "row0")}
        kernel = np.empty(n, dtype=np.bool_)
        cdef long long[::1] pid = cols["pid"], ppid = cols["ppid"], start = cols["start_ticks"]
        cdef long long[::1] first = cols["first"], last = cols["last"], gone = cols["gone"], row0 = cols["row0"]
        cdef unsigned char[::1] kern = kernel.view(np.uint8)
        for k in range(n):
            pid[k], ppid[k], start[k] = self.life[k].pid, self.life[k].ppid, self.life[k].start
            first[k], last[k], gone[k] = self.life[k].first, self.life[k].last, self.life[k].gone
            row0[k], kern[k] = self.life[k].row0, self.life[k].kernel
        cols["kernel_thread"] = kernel
        comm, argv = np.empty(n, dtype=object), np.empty(n, dtype=object)
        for k in range(n):                     # item by item: an argv tuple is one object
            comm[k], argv[k] = self.comm[k], self.argv[k]
        cols["comm"], cols["cmdline"] = comm, argv
        cols["times"] = np.array([self.times[k] for k in range(self.ticks)], dtype=np.float64)
        return cols

    def forks(self):
        """Processes and threads created since boot (``processes`` of
        ``<root>/stat``, man 5 proc), or -1 where the file or line is missing
        or malformed."""
        cdef size_t n
        cdef const char *p
        cdef const char *end
        cdef long long value
        if read_whole(self.root_fd, b"stat", &self.buf, &self.cap, &n, 1 << 22) != READ_OK:
            return -1
        p, end = self.buf, self.buf + n
        while p + 10 < end:
            if memcmp(p, b"processes ", 10) == 0:
                p += 10
                return value if parse_int(&p, end, &value) and value >= 0 else -1
            p = <const char *>memchr(p, c'\n', end - p)
            if p == NULL:
                return -1
            p += 1
        return -1

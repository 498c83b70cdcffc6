"""Read every process from a procfs tree into columns, in C.

One pass over ``<root>/<pid>/{stat,status,cmdline}`` with ``openat`` relative to
the root directory, one reusable buffer, and hand-written parsers. Numeric
fields land directly in preallocated numpy columns; only ``comm`` and the
argument vector become Python objects.

Errors are translated at this boundary (psutil style): a file that is gone
(``ENOENT``/``ESRCH``) means the process vanished and its row is dropped; a
permission error keeps the row and nulls what could not be read; a malformed
``stat`` drops the row and is counted. Nothing here raises for one process.
"""
from libc.errno cimport errno, ENOENT, ESRCH, EACCES, EPERM, EINTR
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memchr, memcmp
from posix.fcntl cimport openat, O_RDONLY, O_CLOEXEC, O_DIRECTORY, open as c_open
from posix.unistd cimport read, close

import numpy as np

from pt.collect._parse cimport (N_IO, PID_MAX_LIMIT, StatFields, is_pid, parse_int, parse_io, parse_stat,
                               split_argv, stat_exit_code, status_count, status_uids, status_value)

cdef extern from "dirent.h" nogil:
    ctypedef struct DIR
    struct dirent:
        char d_name[256]
    DIR *fdopendir(int fd)
    dirent *readdir(DIR *dirp)
    int closedir(DIR *dirp)

cdef extern from "stdio.h" nogil:
    int snprintf(char *buf, size_t n, const char *fmt, ...)

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


cdef int classify_errno(int err) noexcept nogil:
    if err == ENOENT or err == ESRCH:
        return READ_GONE
    if err == EACCES or err == EPERM:
        return READ_DENIED
    return READ_FAILED


cdef int read_whole(int dirfd, const char *path, Buffer *buf) noexcept nogil:
    """Read the file ``path`` (relative to ``dirfd``) completely into ``buf``.

    procfs files report size 0, so read until a short read, growing the
    buffer; the content is NUL-terminated for the parsers.
    """
    cdef int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC)
    cdef ssize_t got
    if fd < 0:
        return classify_errno(errno)
    cdef size_t room
    buf.len = 0
    while True:
        if buffer_reserve(buf, buf.len + 4096) != 0:
            close(fd)
            return READ_FAILED
        room = buf.cap - buf.len - 1
        got = read(fd, buf.data + buf.len, room)
        if got >= 0:
            buf.len += got
            # A short read is the end: procfs files are generated whole per
            # read, and regular files only read short at EOF. This saves the
            # extra read() that would only return 0.
            if <size_t>got < room:
                break
        elif errno != EINTR:
            got = errno
            close(fd)
            return classify_errno(<int>got)
    close(fd)
    buf.data[buf.len] = 0
    return READ_OK


cdef long long parse_status_swap_kb(const char *data, size_t n) noexcept nogil:
    """The ``VmSwap:`` line of /proc/PID/status in kB (man 5 proc: swapped-out
    anonymous memory), or -1 when absent (kernel threads, zombies) or out of
    range (more than 2^42 kB, 4 PiB: more than any machine's swap)."""
    cdef long long kb = -1
    if status_count(data, n, b"VmSwap:", 7, &kb) and kb <= (1LL << 42):
        return kb
    return -1


cdef list list_pids(int root_fd):
    """Numeric entries of the procfs root, i.e. the thread-group leaders.
    A name that is not a pid the kernel could give out (0, leading zeros,
    above PID_MAX_LIMIT) is not a process directory and is left out."""
    cdef list pids = []
    cdef int dup_fd = openat(root_fd, b".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    cdef DIR *d
    cdef dirent *entry
    cdef const char *name
    cdef long long pid
    if dup_fd < 0:
        raise OSError(errno, "cannot open procfs root")
    d = fdopendir(dup_fd)
    if d == NULL:
        close(dup_fd)
        raise OSError(errno, "cannot list procfs root")
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
        if name[0] == 0 and is_pid(pid):
            pids.append(pid)
    closedir(d)
    return pids


cdef class _ProcRoot:
    """An open procfs root directory and a reusable read buffer; both are
    released when the object goes away."""
    cdef int fd
    cdef Buffer buf

    def __cinit__(self, root):
        cdef bytes root_b = root.encode() if isinstance(root, str) else bytes(root)
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
        if self.fd >= 0:
            close(self.fd)


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
    cdef _ProcRoot proc = _ProcRoot(root)
    return _read_all(proc.fd, &proc.buf)


cdef tuple _read_all(int root_fd, Buffer *buf):
    cdef list pids = list_pids(root_fd)
    cdef Py_ssize_t cap = len(pids)
    cdef Py_ssize_t row = 0
    cdef StatFields f
    cdef char path[48]
    cdef int rc
    cdef long long pid, ruid, euid, swap_kb
    cdef Py_ssize_t vanished = 0, denied = 0, malformed = 0
    cdef list denied_pids = [], malformed_pids = []
    cdef object cmdline

    pid_a = np.empty(cap, np.int32)
    ppid_a = np.empty(cap, np.int32)
    pgid_a = np.empty(cap, np.int32)
    sid_a = np.empty(cap, np.int32)
    tty_a = np.empty(cap, np.int32)
    tpgid_a = np.empty(cap, np.int32)
    uid_a = np.empty(cap, np.int64)
    euid_a = np.empty(cap, np.int64)
    state_a = np.empty(cap, np.uint8)
    flags_a = np.empty(cap, np.uint32)
    utime_a = np.empty(cap, np.uint64)
    stime_a = np.empty(cap, np.uint64)
    start_a = np.empty(cap, np.uint64)
    nice_a = np.empty(cap, np.int32)
    threads_a = np.empty(cap, np.int32)
    vsize_a = np.empty(cap, np.int64)
    rss_a = np.empty(cap, np.int64)
    swap_a = np.empty(cap, np.int64)
    kthread_a = np.empty(cap, np.bool_)
    comm_a = np.empty(cap, object)
    cmdline_a = np.empty(cap, object)

    cdef int[::1] pid_v = pid_a, ppid_v = ppid_a, pgid_v = pgid_a, sid_v = sid_a
    cdef int[::1] tty_v = tty_a, tpgid_v = tpgid_a, nice_v = nice_a, threads_v = threads_a
    cdef long long[::1] uid_v = uid_a, euid_v = euid_a, vsize_v = vsize_a, rss_v = rss_a, swap_v = swap_a
    cdef unsigned char[::1] state_v = state_a
    cdef unsigned int[::1] flags_v = flags_a
    cdef unsigned long long[::1] utime_v = utime_a, stime_v = stime_a, start_v = start_a
    cdef unsigned char[::1] kthread_v = kthread_a.view(np.uint8)

    for pid_obj in pids:
        pid = pid_obj
        snprintf(path, sizeof(path), b"%lld/stat", pid)
        rc = read_whole(root_fd, path, buf)
        if rc == READ_GONE:
            vanished += 1
            continue
        if rc != READ_OK:
            denied += 1
            denied_pids.append(pid)
            continue
        if not parse_stat(buf.data, buf.len, &f):
            malformed += 1
            malformed_pids.append(pid)
            continue
        comm = buf.data[f.comm_start:f.comm_start + f.comm_len].decode("utf-8", "backslashreplace")

        snprintf(path, sizeof(path), b"%lld/status", pid)
        rc = read_whole(root_fd, path, buf)
        if rc == READ_GONE:
            vanished += 1
            continue
        ruid = euid = swap_kb = -1
        if rc != READ_OK:
            denied += 1
            denied_pids.append(pid)
        else:
            swap_kb = parse_status_swap_kb(buf.data, buf.len)
            if not status_uids(buf.data, buf.len, &ruid, &euid):
                ruid = euid = -1
                malformed += 1
                malformed_pids.append(pid)

        snprintf(path, sizeof(path), b"%lld/cmdline", pid)
        rc = read_whole(root_fd, path, buf)
        if rc == READ_GONE:
            vanished += 1
            continue
        if rc == READ_OK:
            cmdline = split_argv(buf.data, buf.len)
        else:
            cmdline = None
            denied += 1
            denied_pids.append(pid)

        pid_v[row] = <int>pid
        ppid_v[row] = <int>f.ppid
        pgid_v[row] = <int>f.pgrp
        sid_v[row] = <int>f.session
        tty_v[row] = <int>f.tty_nr
        tpgid_v[row] = <int>f.tpgid
        uid_v[row] = ruid
        euid_v[row] = euid
        state_v[row] = <unsigned char>f.state
        flags_v[row] = <unsigned int>f.flags
        utime_v[row] = <unsigned long long>f.utime
        stime_v[row] = <unsigned long long>f.stime
        start_v[row] = <unsigned long long>f.starttime
        nice_v[row] = <int>f.nice
        threads_v[row] = <int>f.num_threads
        vsize_v[row] = f.vsize
        rss_v[row] = f.rss
        swap_v[row] = swap_kb
        kthread_v[row] = (f.flags & PF_KTHREAD) != 0
        comm_a[row] = comm
        cmdline_a[row] = cmdline
        row += 1

    columns = {
        "pid": pid_a[:row], "ppid": ppid_a[:row], "pgid": pgid_a[:row], "sid": sid_a[:row],
        "tty_nr": tty_a[:row], "tpgid": tpgid_a[:row], "uid": uid_a[:row], "euid": euid_a[:row],
        "state": state_a[:row], "flags": flags_a[:row], "utime": utime_a[:row],
        "stime": stime_a[:row], "start_ticks": start_a[:row], "nice": nice_a[:row],
        "threads": threads_a[:row], "vsize_bytes": vsize_a[:row], "rss_pages": rss_a[:row],
        "swap_kb": swap_a[:row],
        "kernel_thread": kthread_a[:row], "comm": comm_a[:row], "cmdline": cmdline_a[:row],
    }
    counts = {
        "vanished": vanished, "denied": denied, "malformed": malformed,
        "denied_pids": denied_pids, "malformed_pids": malformed_pids,
    }
    return columns, counts


# --- per-process details, read for a chosen set of rows ------------------------

cdef extern from "unistd.h" nogil:
    ssize_t readlinkat(int dirfd, const char *path, char *buf, size_t size)


def read_stat_ticks(root, const int[::1] pids, const unsigned long long[::1] start_ticks):
    """Re-read ``stat`` of known processes: CPU ticks and state now.

    A row whose process exited, or whose pid now names a process with another
    start time (pid reuse), comes back with ``alive`` False.

    Returns
    -------
    ticks : uint64 array, utime + stime (0 where not alive)
    state : uint8 array, the state letter (0 where not alive)
    alive : bool array
    """
    cdef Py_ssize_t n = pids.shape[0], i
    ticks_a = np.zeros(n, np.uint64)
    state_a = np.zeros(n, np.uint8)
    alive_a = np.zeros(n, np.bool_)
    cdef unsigned long long[::1] ticks = ticks_a
    cdef unsigned char[::1] state = state_a
    cdef unsigned char[::1] alive = alive_a.view(np.uint8)
    cdef StatFields f
    cdef char path[48]
    cdef _ProcRoot proc = _ProcRoot(root)
    with nogil:                         # so the window's other re-reads can run on another CPU
        for i in range(n):
            snprintf(path, sizeof(path), b"%d/stat", pids[i])
            if read_whole(proc.fd, path, &proc.buf) != READ_OK:
                continue
            if not parse_stat(proc.buf.data, proc.buf.len, &f) or <unsigned long long>f.starttime != start_ticks[i]:
                continue
            ticks[i] = <unsigned long long>(f.utime + f.stime)
            state[i] = <unsigned char>f.state
            alive[i] = 1
    return ticks_a, state_a, alive_a


IO_FIELDS = ("rchar", "wchar", "syscr", "syscw", "read_bytes", "write_bytes")


def read_io(root, const int[::1] pids):
    """``/proc/PID/io`` counters for each pid (man 5 proc): a dict of int64
    arrays named by :data:`IO_FIELDS`, -1 where the file is unreadable (other
    users' processes need ptrace access), malformed, or the process is gone."""
    cdef Py_ssize_t n = pids.shape[0], i, k
    out_a = np.full((len(IO_FIELDS), n), -1, np.int64)
    cdef long long[:, ::1] out = out_a
    cdef char path[48]
    cdef long long value[N_IO]
    cdef _ProcRoot proc = _ProcRoot(root)
    with nogil:
        for i in range(n):
            snprintf(path, sizeof(path), b"%d/io", pids[i])
            if read_whole(proc.fd, path, &proc.buf) != READ_OK or not parse_io(proc.buf.data, proc.buf.len, value):
                continue
            for k in range(N_IO):
                out[k, i] = value[k]
    return {name: out_a[k] for k, name in enumerate(IO_FIELDS)}


def read_schedstat(root, const int[::1] pids):
    """``/proc/PID/schedstat`` for each pid (the kernel's sched_info of the
    thread group leader): nanoseconds on a CPU and nanoseconds runnable but
    waiting on a run queue, int64 arrays, -1 where unreadable or gone."""
    cdef Py_ssize_t n = pids.shape[0], i
    run_a = np.full(n, -1, np.int64)
    wait_a = np.full(n, -1, np.int64)
    cdef long long[::1] run = run_a
    cdef long long[::1] wait = wait_a
    cdef char path[48]
    cdef const char *p
    cdef const char *end
    cdef long long on_cpu, queued
    cdef _ProcRoot proc = _ProcRoot(root)
    with nogil:
        for i in range(n):
            snprintf(path, sizeof(path), b"%d/schedstat", pids[i])
            if read_whole(proc.fd, path, &proc.buf) != READ_OK:
                continue
            p = proc.buf.data
            end = p + proc.buf.len
            if not parse_int(&p, end, &on_cpu) or not parse_int(&p, end, &queued) or on_cpu < 0 or queued < 0:
                continue
            run[i] = on_cpu
            wait[i] = queued
    return run_a, wait_a


def read_links(root, const int[::1] pids, name):
    """``readlink`` of ``/proc/PID/<name>`` (``cwd``, ``exe``, ``root``) for
    each pid: an object array of str, None where unreadable or gone. A
    deleted target keeps the kernel's `` (deleted)`` suffix."""
    cdef bytes name_b = name.encode() if isinstance(name, str) else bytes(name)
    cdef Py_ssize_t n = pids.shape[0], i
    cdef char path[96]
    cdef ssize_t got
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
    cdef char target[64]
    cdef int dir_fd
    cdef DIR *d
    cdef dirent *entry
    cdef ssize_t got
    cdef long long count, inode
    cdef const char *p
    fd_count_a = np.full(n, -1, np.int32)
    cdef int[::1] fd_count = fd_count_a
    rows = []
    inodes = []
    cdef _ProcRoot proc = _ProcRoot(root)
    for i in range(n):
        snprintf(path, sizeof(path), b"%d/fd", pids[i])
        dir_fd = openat(proc.fd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir_fd < 0:
            continue
        d = fdopendir(dir_fd)
        if d == NULL:
            close(dir_fd)
            continue
        count = 0
        while True:
            entry = readdir(d)
            if entry == NULL:
                break
            if entry.d_name[0] == c'.':
                continue
            count += 1
            got = readlinkat(dir_fd, entry.d_name, target, sizeof(target) - 1)
            if got > 9 and memcmp(target, b"socket:[", 8) == 0:
                target[got] = 0
                p = target + 8
                if parse_int(&p, target + got, &inode) and inode >= 0:
                    rows.append(i)
                    inodes.append(inode)
        closedir(d)
        fd_count[i] = <int>count
    return (fd_count_a, np.array(rows, dtype=np.int32), np.array(inodes, dtype=np.uint64))


def read_texts(root, const int[::1] pids, name):
    """The text of ``/proc/PID/<name>`` (a small file such as ``cgroup`` or
    ``wchan``) for each pid: an object array of str, None where unreadable."""
    cdef bytes name_b = name.encode() if isinstance(name, str) else bytes(name)
    cdef Py_ssize_t n = pids.shape[0], i
    cdef char path[96]
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

"""Parsing shared by the procfs readers (``_procfs``, ``_sampler``, ``_lifecycle``).

Every byte read from procfs is treated as hostile (a fuzzed or captured
``PT_PROCFS_PATH`` tree, or a kernel newer than this code): a number that
does not fit in 63 bits or a state that is not one of the kernel's letters
fails the parse, and the caller records the file as malformed. Nothing
wraps, nothing is cast out of range.
"""
from libc.string cimport memchr


cdef extern from "string.h" nogil:
    void *memmem(const void *haystack, size_t hlen, const void *needle, size_t nlen)


cdef enum:
    # Largest pid Linux can hand out (PID_MAX_LIMIT, include/linux/threads.h:
    # 4 * 1024 * 1024 on 64-bit); every pid fits an int32.
    PID_MAX_LIMIT = 4194304
    # Any decimal of at most 18 digits fits a signed 64-bit integer.
    MAX_DIGITS = 18


cdef inline bint parse_int(const char **cursor, const char *end, long long *out) noexcept nogil:
    """Parse one decimal integer after optional blanks (space, tab) at
    ``*cursor`` and advance past it; False if there are no digits or more
    than :data:`MAX_DIGITS` (it would overflow)."""
    cdef const char *p = cursor[0]
    cdef long long value = 0
    cdef bint negative = False
    cdef const char *digits
    while p < end and (p[0] == c' ' or p[0] == c'\t'):
        p += 1
    if p < end and p[0] == c'-':
        negative = True
        p += 1
    digits = p
    while p < end and c'0' <= p[0] <= c'9':
        if p - digits == MAX_DIGITS:
            return False
        value = value * 10 + (p[0] - c'0')
        p += 1
    if p == digits:
        return False
    out[0] = -value if negative else value
    cursor[0] = p
    return True


cdef inline bint known_state(char c) noexcept nogil:
    """A state letter the kernel reports in stat field 3 (man 5 proc):
    R S D Z T t X x K W P I."""
    return (c == c'R' or c == c'S' or c == c'D' or c == c'Z' or c == c'T' or c == c't'
            or c == c'X' or c == c'x' or c == c'K' or c == c'W' or c == c'P' or c == c'I')


cdef inline bint is_pid(long long value) noexcept nogil:
    """A pid the kernel could have given out: 1 .. PID_MAX_LIMIT."""
    return 1 <= value <= PID_MAX_LIMIT


cdef inline bint skip_int(const char **cursor, const char *end) noexcept nogil:
    """Advance past one decimal integer of any length (a field that is not
    used, such as rsslim, which is 2^64 - 1 when unlimited); False if there
    are no digits."""
    cdef const char *p = cursor[0]
    cdef const char *digits
    while p < end and (p[0] == c' ' or p[0] == c'\t'):
        p += 1
    if p < end and p[0] == c'-':
        p += 1
    digits = p
    while p < end and c'0' <= p[0] <= c'9':
        p += 1
    if p == digits:
        return False
    cursor[0] = p
    return True


# --- /proc/PID/stat -------------------------------------------------------------

cdef struct StatFields:
    char state
    long long ppid, pgrp, session, tty_nr, tpgid, flags
    long long utime, stime, cutime, cstime, nice, num_threads, starttime, vsize, rss
    Py_ssize_t comm_start, comm_len   # comm: data[comm_start:comm_start + comm_len]
    Py_ssize_t rest                   # offset just past field 24 (rss)


cdef enum:
    INT32_LOW = -2147483648
    INT32_HIGH = 2147483647


cdef inline bint stat_in_range(const StatFields *f) noexcept nogil:
    """Every field inside what the kernel can report, so no column cast wraps:
    a known state letter, pids in 0..PID_MAX_LIMIT (tpgid -1 when there is no
    terminal), tty_nr, nice and num_threads within int32, flags within
    uint32, counters and sizes not negative, and at most 2^40 resident pages
    (4 PiB at 4 KiB: no machine has more, and rss_pages * page_size fits an
    int64)."""
    return (known_state(f.state)
            and 0 <= f.ppid <= PID_MAX_LIMIT and 0 <= f.pgrp <= PID_MAX_LIMIT
            and 0 <= f.session <= PID_MAX_LIMIT and -1 <= f.tpgid <= PID_MAX_LIMIT
            and INT32_LOW <= f.tty_nr <= INT32_HIGH and 0 <= f.flags <= 4294967295LL
            and f.utime >= 0 and f.stime >= 0 and f.cutime >= 0 and f.cstime >= 0 and f.starttime >= 0
            and INT32_LOW <= f.nice <= INT32_HIGH and 0 <= f.num_threads <= INT32_HIGH
            and f.vsize >= 0 and 0 <= f.rss <= 1099511627776LL)


cdef inline bint parse_stat(const char *data, size_t n, StatFields *f) noexcept nogil:
    """Parse /proc/PID/stat (man 5 proc): the one stat parser of pt.

    ``comm`` (field 2) is the text between the first ``(`` and the **last**
    ``)``: a name may hold spaces, parentheses, newlines, even ``) S 1 (``,
    but the kernel writes nothing after it but numbers. Fields after comm,
    1-based as in the man page: 3 state, 4 ppid, 5 pgrp, 6 session, 7 tty_nr,
    8 tpgid, 9 flags, 14 utime, 15 stime, 16 cutime, 17 cstime, 19 nice,
    20 num_threads, 22 starttime, 23 vsize, 24 rss. False when any of them is
    missing, is not a number that fits, or is out of the kernel's range
    (:func:`stat_in_range`).
    """
    cdef const char *end = data + n
    cdef const char *open_paren = <const char *>memchr(data, c'(', n)
    cdef const char *close_paren = NULL
    cdef const char *p
    cdef int field
    if open_paren == NULL:
        return False
    p = end - 1
    while p > open_paren:
        if p[0] == c')':
            close_paren = p
            break
        p -= 1
    if close_paren == NULL or close_paren + 3 >= end or close_paren[1] != c' ':
        return False
    f.comm_start = open_paren + 1 - data
    f.comm_len = close_paren - open_paren - 1
    f.state = close_paren[2]
    p = close_paren + 3
    if not (parse_int(&p, end, &f.ppid) and parse_int(&p, end, &f.pgrp)
            and parse_int(&p, end, &f.session) and parse_int(&p, end, &f.tty_nr)
            and parse_int(&p, end, &f.tpgid) and parse_int(&p, end, &f.flags)):
        return False
    for field in range(10, 14):          # minflt cminflt majflt cmajflt
        if not skip_int(&p, end):
            return False
    if not (parse_int(&p, end, &f.utime) and parse_int(&p, end, &f.stime)
            and parse_int(&p, end, &f.cutime) and parse_int(&p, end, &f.cstime)
            and skip_int(&p, end)              # priority
            and parse_int(&p, end, &f.nice) and parse_int(&p, end, &f.num_threads)
            and skip_int(&p, end)              # itrealvalue
            and parse_int(&p, end, &f.starttime) and parse_int(&p, end, &f.vsize)
            and parse_int(&p, end, &f.rss)):
        return False
    f.rest = p - data
    return stat_in_range(f)


cdef inline long long stat_exit_code(const char *data, size_t n, const StatFields *f) noexcept nogil:
    """Field 52 ``exit_code`` (the wait status, since Linux 3.5) of a stat
    :func:`parse_stat` accepted, or -1 when absent or malformed."""
    cdef const char *p = data + f.rest
    cdef const char *end = data + n
    cdef long long code
    cdef int field
    for field in range(25, 52):
        if not skip_int(&p, end):
            return -1
    if not parse_int(&p, end, &code) or code < 0 or code > INT32_HIGH:
        return -1
    return code


# --- /proc/PID/io ---------------------------------------------------------------

cdef enum:
    N_IO = 6      # rchar wchar syscr syscw read_bytes write_bytes


cdef inline bint parse_io(const char *data, size_t n, long long *out) noexcept nogil:
    """/proc/PID/io (man 5 proc): ``rchar wchar syscr syscw read_bytes
    write_bytes`` into ``out[0..5]``, in this fixed order since Linux 2.6.20.
    False (``out`` partly written) if a value is missing, negative or too long."""
    cdef const char *p = data
    cdef const char *end = data + n
    cdef const char *colon
    cdef int k
    for k in range(N_IO):
        colon = <const char *>memchr(p, c':', end - p)
        if colon == NULL:
            return False
        p = colon + 1
        if not parse_int(&p, end, &out[k]) or out[k] < 0:
            return False
    return True


cdef inline bint parse_schedstat(const char *data, size_t n, long long *run, long long *wait,
                                 long long *slices) noexcept nogil:
    """/proc/PID/schedstat (the leader thread's sched_info): ns on a CPU, ns
    waiting on a run queue, times put on a CPU. False (``run`` and ``wait``
    unusable) if either of the first two is missing or negative; ``slices``
    is -1 where the third is missing."""
    cdef const char *p = data
    cdef const char *end = data + n
    if not parse_int(&p, end, run) or not parse_int(&p, end, wait) or run[0] < 0 or wait[0] < 0:
        return False
    if not parse_int(&p, end, slices):
        slices[0] = -1
    return True


# --- /proc/PID/status -----------------------------------------------------------

cdef inline const char *status_value(const char *data, size_t n, const char *key, size_t klen) noexcept nogil:
    """Where the value of the line starting with ``key`` (e.g. ``b"Uid:"``)
    begins in a ``Key:\\tvalue`` file (/proc/PID/status, meminfo), past
    blanks; NULL when no line starts with it. One ``memmem`` in the usual
    case (a match inside another line is skipped)."""
    cdef const char *end = data + n
    cdef const char *p = data
    while p + klen <= end:
        p = <const char *>memmem(p, end - p, key, klen)
        if p == NULL:
            return NULL
        if p == data or (p - 1)[0] == c'\n':
            p += klen
            while p < end and (p[0] == c'\t' or p[0] == c' '):
                p += 1
            return p
        p += 1
    return NULL


cdef inline bint status_count(const char *data, size_t n, const char *key, size_t klen,
                              long long *out) noexcept nogil:
    """The non-negative integer on ``key``'s line of a status file; False if
    the line is absent or does not start with one."""
    cdef const char *p = status_value(data, n, key, klen)
    return p != NULL and parse_int(&p, data + n, out) and out[0] >= 0


cdef inline bint status_uids(const char *data, size_t n, long long *ruid, long long *euid) noexcept nogil:
    """Real and effective uid, the first two fields of the ``Uid:`` line of
    /proc/PID/status (real, effective, saved, fs); False if absent or out of
    range (uid_t is 32 bits and (uid_t)-1 means "no uid")."""
    cdef const char *p = status_value(data, n, b"Uid:", 4)
    return (p != NULL and parse_int(&p, data + n, ruid) and parse_int(&p, data + n, euid)
            and 0 <= ruid[0] <= 4294967294LL and 0 <= euid[0] <= 4294967294LL)


# --- /proc/PID/cmdline ----------------------------------------------------------

cdef inline tuple split_argv(const char *data, size_t n):
    """Split a NUL-separated cmdline into a tuple of str (trailing NUL
    optional; bytes that are not UTF-8 kept as backslash escapes)."""
    cdef list args = []
    cdef const char *p = data
    cdef const char *end = data + n
    cdef const char *nul
    while p < end:
        nul = <const char *>memchr(p, 0, end - p)
        if nul == NULL:
            nul = end
        args.append(p[:nul - p].decode("utf-8", "backslashreplace"))
        p = nul + 1
    return tuple(args)

"""Parsing shared by the procfs readers (``_procfs``, ``_sampler``).

Every byte read from procfs is treated as hostile (a fuzzed or captured
``PT_PROCFS_PATH`` tree, or a kernel newer than this code): a number that
does not fit in 63 bits or a state that is not one of the kernel's letters
fails the parse, and the caller records the file as malformed. Nothing
wraps, nothing is cast out of range.
"""

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

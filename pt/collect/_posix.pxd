"""C library calls the procfs readers (``_procfs``, ``_sampler``, ``_lifecycle``)
use that Cython's own ``libc``/``posix`` declarations do not cover: directory
listing, ``snprintf``, ``pread`` and ``readlinkat``. Declared once here."""

cdef extern from "dirent.h" nogil:
    ctypedef struct DIR
    struct dirent:
        char d_name[256]
    DIR *fdopendir(int fd)
    dirent *readdir(DIR *dirp)
    void rewinddir(DIR *dirp)
    int closedir(DIR *dirp)

cdef extern from "stdio.h" nogil:
    int snprintf(char *buf, size_t n, const char *fmt, ...)

cdef extern from "unistd.h" nogil:
    ssize_t pread(int fd, void *buf, size_t count, long offset)
    ssize_t readlinkat(int dirfd, const char *path, char *buf, size_t size)

cdef extern from "fcntl.h" nogil:
    enum: O_PATH

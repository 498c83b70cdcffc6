"""Files in pt's own directories, opened so no other user can turn them against pt.

pt writes its state (plans, the action journal), the telemetry key and the
lake under directories another local user may have prepared in advance: a
world-writable lake or state directory with ``journal.jsonl`` planted as a
symbolic link to a file of root's would make ``sudo pt apply`` append to that
file. Every file pt writes goes through this module, which

- creates pt's directories 0700 (the missing parents it creates too) and its
  files 0600;
- opens each directory with ``O_NOFOLLOW`` and checks the open descriptor: a
  directory, owned by the effective user, not writable by group or others,
  else :class:`UnsafeDirectory` names the path and what to do;
- opens files, and the subdirectories it descends into, relative to that
  verified descriptor (``dir_fd=``) with ``O_NOFOLLOW``;
- publishes a file by ``link``/``rename`` inside the same descriptor, so a
  name is only ever a complete file pt wrote.

A directory that passes the check can only hold what its owner put there, so
a path that was swapped after the check is refused, never followed.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
TMP_PREFIX = ".tmp-"
#: Largest file :meth:`Dir.read_bytes` reads (pt's state files are kilobytes).
MAX_READ_BYTES = 16 << 20
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafeDirectory(OSError):
    """A directory (or file) pt will not use; the message names it and says what to do."""


def _owner(uid: int) -> str:
    try:
        import pwd
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (KeyError, ImportError):
        return f"uid {uid}"


def _verify(fd: int, path: Path) -> None:
    st = os.fstat(fd)
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeDirectory(f"{path} is not a directory")
    me = os.geteuid()
    if st.st_uid != me:
        raise UnsafeDirectory(
            f"{path} belongs to {_owner(st.st_uid)}, not to you ({_owner(me)}): pt keeps its files only in "
            f"directories you own; remove it, or point pt at another directory")
    if st.st_mode & 0o022:
        who = {0o022: "group and others", 0o020: "group", 0o002: "others"}[st.st_mode & 0o022]
        raise UnsafeDirectory(
            f"{path} can be written by {who} (mode {stat.S_IMODE(st.st_mode):04o}): pt keeps its files only "
            f"in private directories; remove it (pt makes a new one, 0700), or if only you ever wrote to "
            f"it, `chmod go-w {path}`")


def _link_error(exc: OSError, path: Path, name=None, dir_fd=None) -> OSError:
    """An open refused by ``O_NOFOLLOW`` (ELOOP, or ENOTDIR with ``O_DIRECTORY``)
    on a symbolic link: say so; any other error as it was."""
    import errno
    if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
        try:
            is_link = stat.S_ISLNK(os.lstat(path if name is None else name, dir_fd=dir_fd).st_mode)
        except OSError:
            is_link = False
        if is_link:
            return UnsafeDirectory(f"{path} is a symbolic link: pt does not follow links in its own "
                                   f"directories; remove it, or give the real path")
    return exc


def _check_name(name: str) -> str:
    if not name or name in (".", "..") or "/" in name or "\0" in name:
        raise ValueError(f"not a single file name: {name!r}")
    return name


def _makedirs(path: Path) -> None:
    """Create ``path`` and its missing parents, each 0700 (those that exist are left as they are)."""
    missing = []
    p = path
    while True:
        try:
            os.lstat(p)
            break
        except FileNotFoundError:
            missing.append(p)
            if p.parent == p:
                break
            p = p.parent
    for p in reversed(missing):
        try:
            os.mkdir(p, DIR_MODE)
        except FileExistsError:
            pass


def private_dir(path: str | os.PathLike, *, create: bool = True) -> Dir:
    """Open (creating it, 0700, with its missing parents, if ``create``) one of
    pt's directories and verify it (see the module docstring). The last
    component is never a symbolic link; links above it are the user's own
    layout and are followed. ``FileNotFoundError`` if it is missing and
    ``create`` is false."""
    path = Path(path).expanduser()
    created = False
    if create:
        try:
            os.lstat(path)
        except FileNotFoundError:
            _makedirs(path.parent)
            try:
                os.mkdir(path, DIR_MODE)
                created = True
            except FileExistsError:
                pass
    try:
        fd = os.open(path, _DIR_FLAGS)
    except OSError as exc:
        raise _link_error(exc, path) from None
    try:
        if created:
            os.fchmod(fd, DIR_MODE)
        _verify(fd, path)
    except BaseException:
        os.close(fd)
        raise
    return Dir(path, fd)


class Dir:
    """An open, verified directory of pt's; every name is relative to it and
    never followed if it is a symbolic link. Use as a context manager."""

    def __init__(self, path: Path, fd: int):
        self.path, self.fd = Path(path), fd

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Dir:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- directories ---

    def sub(self, name: str, *, create: bool = False) -> Dir:
        """The subdirectory ``name``, verified (created 0700 if ``create``)."""
        path = self.path / _check_name(name)
        created = False
        if create:
            try:
                os.mkdir(name, DIR_MODE, dir_fd=self.fd)
                created = True
            except FileExistsError:
                pass
        try:
            fd = os.open(name, _DIR_FLAGS, dir_fd=self.fd)
        except OSError as exc:
            raise _link_error(exc, path, name, self.fd) from None
        try:
            if created:
                os.fchmod(fd, DIR_MODE)
            _verify(fd, path)
        except BaseException:
            os.close(fd)
            raise
        return Dir(path, fd)

    def walk(self, *names: str, create: bool = False) -> Dir:
        """The directory ``names`` below this one, each step verified."""
        current, owned = self, False
        try:
            for name in names:
                nxt = current.sub(name, create=create)
                if owned:
                    current.close()
                current, owned = nxt, True
        except BaseException:
            if owned:
                current.close()
            raise
        return Dir(current.path, os.dup(current.fd)) if not owned else current

    def entries(self) -> list[os.DirEntry]:
        """The entries (sorted by name); ``is_dir``/``is_file`` never follow links."""
        with os.scandir(self.fd) as it:
            return sorted(it, key=lambda e: e.name)

    def remove_tree(self, name: str) -> None:
        """Remove the subdirectory ``name`` and everything in it, never following a link."""
        with self.sub(name) as d:
            for entry in d.entries():
                if entry.is_dir(follow_symlinks=False):
                    d.remove_tree(entry.name)
                else:
                    os.unlink(entry.name, dir_fd=d.fd)
        os.rmdir(name, dir_fd=self.fd)

    def rmdir(self, name: str) -> bool:
        """Remove ``name`` if it is an empty directory; False if it is not (or is gone)."""
        try:
            os.rmdir(_check_name(name), dir_fd=self.fd)
            return True
        except OSError:
            return False

    # --- files ---

    def open(self, name: str, flags: int = os.O_RDONLY, mode: int = FILE_MODE) -> int:
        """``os.open`` of ``name`` in this directory, ``O_NOFOLLOW``, created ``mode``."""
        try:
            return os.open(_check_name(name), flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=self.fd)
        except OSError as exc:
            raise _link_error(exc, self.path / name, name, self.fd) from None

    def read_bytes(self, name: str, limit: int = MAX_READ_BYTES) -> bytes:
        """The contents of the regular file ``name``, at most ``limit`` bytes.
        Opened without blocking and checked on the descriptor: a FIFO or
        device where pt keeps a file would otherwise hang or flood the reader
        (every scan reads the learned priors and the watch list). Anything
        else raises ``OSError`` naming the file."""
        import errno
        with os.fdopen(self.open(name, os.O_RDONLY | os.O_NONBLOCK), "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise OSError(errno.EINVAL, "not a regular file", str(self.path / name))
            data = f.read(limit + 1)
        if len(data) > limit:
            raise OSError(errno.EFBIG, f"larger than {limit} bytes", str(self.path / name))
        return data

    def stat(self, name: str) -> os.stat_result:
        return os.stat(_check_name(name), dir_fd=self.fd, follow_symlinks=False)

    def unlink(self, name: str, *, missing_ok: bool = True) -> None:
        try:
            os.unlink(_check_name(name), dir_fd=self.fd)
        except FileNotFoundError:
            if not missing_ok:
                raise

    def _temporary(self, write) -> str:
        """A new hidden file (0600) holding what ``write(binary file)`` wrote; its name."""
        tmp = f"{TMP_PREFIX}{os.getpid()}-{secrets.token_hex(6)}"
        fd = self.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        try:
            with os.fdopen(fd, "wb", buffering=1 << 20) as f:
                write(f)
        except BaseException:
            self.unlink(tmp)
            raise
        return tmp

    def publish(self, write, stem: str, suffix: str) -> str:
        """Write a file with ``write(f)`` and publish it, atomically and never
        replacing anything, as the first free ``<stem>-N<suffix>``; its name."""
        tmp = self._temporary(write)
        try:
            n = 0
            while True:
                name = f"{stem}-{n}{suffix}"
                try:
                    os.link(tmp, name, src_dir_fd=self.fd, dst_dir_fd=self.fd, follow_symlinks=False)
                    return name
                except FileExistsError:
                    n += 1
        finally:
            self.unlink(tmp)

    def create(self, name: str, data: bytes) -> bool:
        """Publish ``data`` (fsync'd) as ``name`` unless it exists; True if this call made it."""
        def write(f):
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        tmp = self._temporary(write)
        try:
            os.link(tmp, _check_name(name), src_dir_fd=self.fd, dst_dir_fd=self.fd, follow_symlinks=False)
            return True
        except FileExistsError:
            return False
        finally:
            self.unlink(tmp)

    def replace(self, name: str, data: bytes, *, sync: bool = True) -> None:
        """Write ``data`` (fsync'd if ``sync``) and rename it over ``name``:
        readers see the old or the new file."""
        def write(f):
            f.write(data)
            if sync:
                f.flush()
                os.fsync(f.fileno())
        tmp = self._temporary(write)
        try:
            os.rename(tmp, _check_name(name), src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except BaseException:
            self.unlink(tmp)
            raise

    def move(self, name: str, dest: Dir, new_name: str) -> str:
        """Move ``name`` into ``dest`` as the first free ``new_name``, ``new_name.1``, ...
        (never replacing a file there); the name it got."""
        _check_name(name)
        candidate, n = _check_name(new_name), 0
        while True:
            try:
                os.link(name, candidate, src_dir_fd=self.fd, dst_dir_fd=dest.fd, follow_symlinks=False)
                break
            except FileExistsError:
                n += 1
                candidate = f"{new_name}.{n}"
        os.unlink(name, dir_fd=self.fd)
        return candidate

    @contextlib.contextmanager
    def locked(self, name: str, *, blocking: bool = True):
        """Hold an exclusive ``flock`` on the file ``name`` (created 0600);
        ``BlockingIOError`` if not ``blocking`` and another process holds it."""
        import fcntl
        fd = self.open(name, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            yield
        finally:
            os.close(fd)

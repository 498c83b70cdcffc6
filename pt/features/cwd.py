"""Working-directory categories: is a process at work in a repository, a
scratch directory, its owner's home, a deleted directory, or ``/``?

Repository detection looks for a VCS marker (``.git``, ``.hg``, ``.jj``,
``.svn``) in the directory and its ancestors, with ``lstat`` only (``git`` is
never run), caching every directory it has looked at, so 2,000 processes in
50 distinct working directories cost about 50 walks.
"""
from __future__ import annotations

import os
import pwd
import re
from collections.abc import Mapping

import numpy as np

#: Cwd categories, in the order of their codes; ``unknown`` is last.
CWD_CATEGORIES = ("repo", "temp", "home", "deleted", "root", "unknown")
REPO, TEMP, HOME, DELETED, ROOT, UNKNOWN = range(len(CWD_CATEGORIES))

VCS_MARKERS = (".git", ".hg", ".jj", ".svn")
TEMP_ROOTS = ("/tmp", "/var/tmp", "/dev/shm")
#: Directory names that mark scratch space wherever they are: ``tmp``,
#: ``tempfile.mkdtemp()``'s ``tmpXXXXXXXX``, pytest's ``pytest-of-USER``.
TEMP_DIR_NAME = re.compile(r"(?:\.?tmp|temp|tmp[a-z0-9_]{6,12}|pytest-of-.+)\Z", re.IGNORECASE)
DELETED_SUFFIX = " (deleted)"


class RepoFinder:
    """Answers "is this directory inside a VCS work tree?" with a cache keyed
    by directory, shared by every path asked about.

    ``probed`` counts the directories whose markers were looked up: each
    directory is probed at most once per finder.
    """

    def __init__(self, markers: tuple[str, ...] = VCS_MARKERS):
        self.markers = markers
        self.probed = 0
        self._inside: dict[str, bool] = {}

    def inside(self, directory: str) -> bool:
        """True if ``directory`` or one of its ancestors holds a VCS marker."""
        walked = []
        path = directory
        while True:
            known = self._inside.get(path)
            if known is not None:
                break
            walked.append(path)
            self.probed += 1
            if any(os.path.lexists(os.path.join(path, m)) for m in self.markers):
                known = True
                break
            parent = os.path.dirname(path)
            if parent == path:
                known = False
                break
            path = parent
        for path in walked:
            self._inside[path] = known
        return known


def classify_cwd(cwd: np.ndarray, uid: np.ndarray, tmpdir: str | None = None,
                 homes: Mapping[int, str] | None = None) -> np.ndarray:
    """Cwd category codes for whole columns.

    Parameters
    ----------
    cwd : array of str or None, shape (n,)
        ``/proc/PID/cwd`` link targets (None where unreadable).
    uid : array of int, shape (n,)
        The processes' real uids (-1 where unknown).
    tmpdir : str, optional
        An extra temporary root; by default pt's own ``$TMPDIR``.
    homes : mapping of uid to home directory, optional
        By default looked up in the password database.

    Returns
    -------
    ndarray of int8, shape (n,)
        Codes into :data:`CWD_CATEGORIES`.

    Notes
    -----
    In order: ``deleted`` (the kernel's `` (deleted)`` suffix), ``root``
    (``/``), ``repo`` (a VCS marker in the directory or an ancestor), then
    the deepest of the owner's home and the temporary roots that contains
    the directory decides between ``home`` and ``temp``; below it, a scratch
    directory name (:data:`TEMP_DIR_NAME`) makes it ``temp``, so a home that
    itself lives under ``/tmp`` is still a home. Anything else is ``unknown``.
    """
    n = len(cwd)
    if len(uid) != n:
        raise ValueError(f"cwd and uid must have the same length, got {n} and {len(uid)}")
    tmpdir = os.environ.get("TMPDIR") if tmpdir is None else tmpdir
    temp_roots = tuple({os.path.normpath(p) for p in (*TEMP_ROOTS, tmpdir) if p and p.startswith("/")})
    home_of = _HomeLookup(homes)
    finder = RepoFinder()
    index: dict = {}
    rows = zip(cwd, np.asarray(uid).tolist())
    inverse = np.fromiter((index.setdefault(row, len(index)) for row in rows), dtype=np.intp, count=n)
    codes = np.fromiter((_category(path, home_of(u), temp_roots, finder) for path, u in index),
                        dtype=np.int8, count=len(index))
    return codes[inverse]


def _category(path, home: str | None, temp_roots: tuple[str, ...], finder: RepoFinder) -> int:
    if not isinstance(path, str) or not path.startswith("/"):
        return UNKNOWN
    if path.endswith(DELETED_SUFFIX):
        return DELETED
    if path == "/":
        return ROOT
    if finder.inside(path):
        return REPO
    anchor, category = "", UNKNOWN
    for root, kind in ((home, HOME), *((t, TEMP) for t in temp_roots)):
        if root and len(root) > len(anchor) and _under(path, root):
            anchor, category = root, kind
    below = path[len(anchor):].split("/")
    if any(TEMP_DIR_NAME.match(name) for name in below):
        return TEMP
    return category


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


class _HomeLookup:
    """uid -> home directory, from ``homes`` or the password database, once per uid;
    ``/`` and missing entries count as no home."""

    def __init__(self, homes: Mapping[int, str] | None):
        self._homes = homes
        self._cache: dict[int, str | None] = {}

    def __call__(self, uid: int) -> str | None:
        if uid not in self._cache:
            if self._homes is not None:
                home = self._homes.get(uid)
            else:
                try:
                    home = pwd.getpwuid(uid).pw_dir if uid >= 0 else None
                except KeyError:
                    home = None
            self._cache[uid] = os.path.normpath(home) if home and home != "/" else None
        return self._cache[uid]

"""Command and cwd categories for whole columns of processes.

The Bayesian model scores each process's command category and cwd category
(Dirichlet-categorical per class). :func:`load_rules` reads the rules (data:
``pt/data/categories.json`` plus the user's file) into a
:class:`CategoryRules`, whose :meth:`~CategoryRules.classify` turns the
``comm``/``cmdline`` columns into int8 codes into :data:`COMMAND_CATEGORIES`;
:func:`classify_cwd` does the same for working directories.

Speed comes from not running rules per process: rows are deduplicated on
their raw ``(comm, cmdline, exe)``, then on the views rules see (see
:mod:`pt.features.argv`), and each match target's rules are joined into one
alternation regex, so a distinct view costs one ``re.match`` per target and
layer.
"""
from __future__ import annotations

import os
import re
from collections.abc import Sequence

import numpy as np

from pt.bounded_regex import GaveUp, bounded
from pt.features.argv import Interpreter, Interpreters, command_layers
from pt.features.cwd import CWD_CATEGORIES, classify_cwd
from pt.features.rules_file import COMMAND_CATEGORIES, MATCH_TARGETS, Rule, read_shipped, read_user

__all__ = ["COMMAND_CATEGORIES", "CWD_CATEGORIES", "CategoryRules", "category_names",
           "classify_cwd", "load_rules"]

UNKNOWN = COMMAND_CATEGORIES.index("unknown")
_NO_MATCH = 1 << 30


class CategoryRules:
    """Compiled command-category rules.

    Parameters
    ----------
    user_rules, shipped_rules : sequence of Rule
        Each in file order; they are tried by priority (highest first), then
        in file order, and all user rules before any shipped rule.
    interpreters : sequence of Interpreter
        Interpreters and wrappers to look through, tried in order.

    Notes
    -----
    For each process the layers of its command are tried innermost program
    first (``python -m pytest``: ``pytest``, then ``python3``, then its
    ``comm``); the first rule that matches a layer decides, user rules on all
    layers before shipped rules. ``comm`` and ``exe`` rules belong to every
    layer. Patterns match from the start of the target (``re.match``); a
    ``cmdline`` rule matches the command line as invoked or with the
    program's directory removed. Matches are bounded (:mod:`pt.bounded_regex`:
    a rule sees the first ``MATCH_CHARS`` characters for at most
    ``MATCH_CPU_S`` of CPU): a value the rules of one file give up on matches
    none of them.
    """

    def __init__(self, user_rules: Sequence[Rule], shipped_rules: Sequence[Rule],
                 interpreters: Sequence[Interpreter]):
        self.rules = tuple(_by_priority(user_rules)) + tuple(_by_priority(shipped_rules))
        self.n_user = len(user_rules)
        self.interpreters = Interpreters(tuple(interpreters))
        self._codes = np.array([r.category for r in self.rules] + [UNKNOWN], dtype=np.int8)
        indexed = list(enumerate(self.rules))
        self._sets = tuple(_RuleSet(part) for part in (indexed[:self.n_user], indexed[self.n_user:])
                           if part)

    def classify(self, comm: np.ndarray, cmdline: np.ndarray, exe: np.ndarray | None = None) -> np.ndarray:
        """Command category codes for whole columns.

        Parameters
        ----------
        comm : array of str, shape (n,)
            Kernel command names (``/proc/PID/stat`` field 2).
        cmdline : array of tuple of str or None, shape (n,)
            Argument vectors; empty for kernel threads and zombies, None where
            unreadable.
        exe : array of str or None, shape (n,), optional
            ``/proc/PID/exe`` targets (a `` (deleted)`` suffix is ignored);
            without it, ``exe`` rules never match.

        Returns
        -------
        ndarray of int8, shape (n,)
            Codes into :data:`COMMAND_CATEGORIES`; ``unknown`` where no rule matched.
        """
        n = len(comm)
        if len(cmdline) != n or (exe is not None and len(exe) != n):
            raise ValueError(f"comm, cmdline and exe must have the same length, got {n}, "
                             f"{len(cmdline)} and {None if exe is None else len(exe)}")
        exe = [None] * n if exe is None else exe
        try:
            inverse, distinct = _factorize(zip(comm, cmdline, exe), n)
        except TypeError:                       # argv given as lists: make them hashable
            inverse, distinct = _factorize(
                zip(comm, (None if a is None else tuple(a) for a in cmdline), exe), n)
        seen: dict = {}
        memos = [_memo() for _ in self._sets]
        with bounded() as run:
            codes = np.fromiter((self._code(c, a, e, seen, memos, run) for c, a, e in distinct),
                                dtype=np.int8, count=len(distinct))
        return codes[inverse]

    def matching_rule(self, comm: str, argv: tuple[str, ...] | None, exe: str | None = None) -> Rule | None:
        """The rule that decides one process's category (None: ``unknown``);
        for explanations and for checking a user's rules."""
        with bounded() as run:
            index = self._first_rule(self._views(comm, argv, exe, run), [_memo() for _ in self._sets], run)
        return None if index == _NO_MATCH else self.rules[index]

    # --- per distinct process -------------------------------------------------

    def _code(self, comm, argv, exe, seen: dict, memos: list, run) -> int:
        views = self._views(comm, argv, exe, run)
        code = seen.get(views)
        if code is None:
            code = seen[views] = self._codes[min(self._first_rule(views, memos, run), len(self.rules))]
        return code

    def _views(self, comm, argv, exe, run) -> tuple:
        """``(comm, exe basename, layers)``; the layers come from the
        interpreters' ``argv0`` regexes (user ones too), so they are bounded:
        a command they give up on has no layers (comm and exe rules still apply)."""
        if comm.__class__ is not str:
            comm = ""
        if exe is not None:
            exe = exe.removesuffix(" (deleted)").rpartition("/")[2] if isinstance(exe, str) else None
        try:
            layers = run.call(command_layers, argv, comm, self.interpreters)
        except GaveUp:
            layers = ()
        return comm, exe, layers

    def _first_rule(self, views: tuple, memos: list, run) -> int:
        """Index of the deciding rule: the user's rules, then the shipped ones."""
        for rule_set, memo in zip(self._sets, memos):
            index = rule_set.first(*views, memo, run)
            if index != _NO_MATCH:
                return index
        return _NO_MATCH


class _RuleSet:
    """The rules of one file in trial order, each match target's joined into one regex."""

    def __init__(self, indexed: list[tuple[int, Rule]]):
        self._matchers = {t: _combine([(i, r) for i, r in indexed if r.target == t])
                          for t in MATCH_TARGETS}

    def first(self, comm: str, exe_base: str | None, layers: tuple, memo: dict, run) -> int:
        """Index of the first rule matching the innermost layer any rule matches.

        ``comm`` and ``exe`` rules take part in every layer; ``memo`` holds the
        answers already found for each target and value; ``run`` is the
        bounded matcher (:func:`pt.bounded_regex.bounded`).
        """
        fixed = min(self._first("comm", comm, memo, run), self._first("exe", exe_base, memo, run))
        for argv0, line, short in layers:
            index = min(fixed, self._first("argv0", argv0, memo, run), self._first("cmdline", line, memo, run),
                        _NO_MATCH if short is line else self._first("cmdline", short, memo, run))
            if index != _NO_MATCH:
                return index
        return fixed

    def _first(self, target: str, value: str | None, memo: dict, run) -> int:
        """The first rule of ``target`` matching ``value``; a value the rules
        give up on (too slow, see :mod:`pt.bounded_regex`) matches none."""
        pattern, rule_of_group = self._matchers[target]
        if pattern is None or value is None:
            return _NO_MATCH
        known = memo[target]
        index = known.get(value)
        if index is None:
            try:
                match = run(pattern.match, value)
            except GaveUp:
                match = None
            index = known[value] = _NO_MATCH if match is None else rule_of_group[match.lastgroup]
        return index


def load_rules(path: str | os.PathLike | None = None) -> CategoryRules:
    """The shipped rules with the user's rules in front of them.

    Parameters
    ----------
    path : path-like, optional
        The user rules file; by default ``$XDG_CONFIG_HOME/pt/categories.json``
        (``~/.config/pt/categories.json``), used only if it exists.

    Raises
    ------
    ConfigError
        A value in either file is unusable; the message names the file, the
        key path (``rules[12].regex``) and the value.
    """
    shipped = read_shipped()
    user = read_user(path)
    if user is None:
        return CategoryRules((), shipped.rules, shipped.interpreters)
    return CategoryRules(user.rules, shipped.rules, user.interpreters + shipped.interpreters)


def category_names(codes: np.ndarray, which: str) -> np.ndarray:
    """Category names (object array of str) for codes of ``which``: ``"command"`` or ``"cwd"``."""
    names = {"command": COMMAND_CATEGORIES, "cwd": CWD_CATEGORIES}.get(which)
    if names is None:
        raise ValueError(f"which must be 'command' or 'cwd', got {which!r}")
    codes = np.asarray(codes)
    if codes.size and (codes.min() < 0 or codes.max() >= len(names)):
        raise ValueError(f"codes must be in [0, {len(names)}) for {which!r} categories, "
                         f"got values from {codes.min()} to {codes.max()}")
    return np.array(names, dtype=object)[codes]


def _memo() -> dict:
    """Per-call answers of one rule set: target -> value -> rule index."""
    return {t: {} for t in MATCH_TARGETS}


def _by_priority(rules: Sequence[Rule]) -> list[Rule]:
    return sorted(rules, key=lambda r: -r.priority)          # stable: file order within a priority


def _combine(indexed: list[tuple[int, Rule]]) -> tuple[re.Pattern | None, dict[str, int]]:
    """One regex ``(?:r0)(?P<_0>)|(?:r1)(?P<_1>)|...`` for rules in trial
    order, and the rule index of each branch's empty marker group, by name.

    ``re.match`` takes the first branch that matches, and ``match.lastgroup``
    names that branch's marker, the last group it closes (rules have no named
    groups of their own, :mod:`pt.features.rules_file` checks; naming the
    markers spares compiling every rule alone to count its groups). The
    marker goes last so a branch starts with its rule's own first character,
    which lets sre skip a branch that starts with a non-matching literal
    without entering it."""
    if not indexed:
        return None, {}
    parts = [f"(?:{rule.regex})(?P<_{index}>)" for index, rule in indexed]
    return re.compile("|".join(parts)), {f"_{index}": index for index, _ in indexed}


def _factorize(rows, n: int) -> tuple[np.ndarray, list]:
    """Row -> index of its distinct value, and the distinct values in first-seen order."""
    index: dict = {}
    inverse = np.fromiter((index.setdefault(row, len(index)) for row in rows), dtype=np.intp, count=n)
    return inverse, list(index)

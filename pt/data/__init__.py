"""Shipped defaults: priors.json, policy.json, category rules.

:func:`read_text` reads them from beside this module: every scan reads
them, and ``importlib.resources`` would cost it ~25 ms of imports to find
the same files of an installed package.
"""
from pathlib import Path


def read_text(name: str) -> str:
    """The shipped data file ``name``, as UTF-8 text."""
    return (Path(__file__).parent / name).read_text(encoding="utf-8")

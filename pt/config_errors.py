"""The error every policy, priors or rules file raises when a value is unusable."""
from __future__ import annotations

import reprlib

#: Values are shown truncated: a bad value may be a megabyte string or a list
#: nested hundreds deep.
_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother = 3, 120, 120
_SHORT.maxlist = _SHORT.maxdict = _SHORT.maxtuple = 8


class ConfigError(ValueError):
    """A bad value in a pt data file, naming the file, the key path and the value.

    Parameters
    ----------
    file : str
        The file that holds the value (``<pt>/data/...`` for shipped files).
    key : str
        JSON key path to the value, such as ``rules[12].regex``.
    value : object
        The offending value, shown with ``repr`` (truncated).
    problem : str
        What is wrong with it.
    """

    def __init__(self, file: str, key: str, value, problem: str):
        self.file, self.key, self.value, self.problem = file, key, value, problem
        super().__init__(f"{file}: {key} = {_SHORT.repr(value)}: {problem}")

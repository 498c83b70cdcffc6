"""The one error a command raises to stop: :class:`CommandError`.

Raised wherever the problem is found (below the commands too) and caught once
in :func:`pt.cli.main`, which says it on stderr and, with ``--json``, prints
the error result (:func:`pt.ui.result.error_envelope`); its exit code comes
from :data:`EXIT_CODES`, the one table mapping error codes to the exit codes
of :mod:`pt.exit_codes`.
"""
from __future__ import annotations

from pt.exit_codes import ERROR, NOT_FOUND, REFUSED, USAGE

#: The exit code of each error code that does not mean plain failure (1).
EXIT_CODES = {
    "usage": USAGE, "unknown_schema": USAGE,
    "not_found": NOT_FOUND, "plan_not_found": NOT_FOUND,
    "plan_invalid": REFUSED, "plan_unusable": REFUSED, "plan_too_large": REFUSED, "plan_not_saved": REFUSED,
    "not_confirmed": REFUSED, "not_at_terminal": REFUSED, "refused": REFUSED,
}


class CommandError(Exception):
    """A command cannot do what was asked: ``code`` (the JSON error code),
    ``message`` (may quote anyone's text: escaped when shown), ``hint``
    (None: the one :data:`pt.ui.result.HINTS` has for ``code``)."""

    def __init__(self, code: str, message: str, hint: str | None = None):
        super().__init__(message)
        self.code, self.message, self.hint = code, message, hint

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.code, ERROR)

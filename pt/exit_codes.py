"""The one table of exit codes."""

OK = 0
ERROR = 1            # pt could not do what was asked (e.g. procfs unreadable)
USAGE = 2            # bad arguments (argparse's own code)
NOT_FOUND = 3        # the named process or plan does not exist
REFUSED = 4          # nothing done: no confirmation, or the plan is expired, edited or from another boot
INCOMPLETE = 5       # some actions were not carried out (refused, aborted, unavailable, failed)
INTERRUPTED = 130    # Ctrl-C
BROKEN_PIPE = 141    # stdout closed by the reader, as a shell reports SIGPIPE

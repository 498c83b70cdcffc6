"""``python -m pt`` and the ``pt`` console script."""
import os
import sys

#: Thread pools a BLAS behind numpy starts when numpy is imported. pt's
#: numeric work is element-wise and never calls BLAS, and OpenBLAS's spinning
#: workers cost about 0.1 s of CPU per run: one thread, unless the user set one.
BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def pin_blas_threads() -> None:
    """Ask for one BLAS thread; works only before numpy is first imported."""
    for name in BLAS_THREAD_VARS:
        os.environ.setdefault(name, "1")


#: Commands whose first step is the quick scan's reads
#: (:func:`pt.collect.early.reading`), and their options that read nothing.
READ_FIRST = {"scan": ("--help", "--legend", "--raw"), "plan": ("--help",),
              "explain": ("--help", "--plan", "--deep")}


def reads_first(argv: list[str]) -> bool:
    """Whether ``argv`` (after ``pt``) runs a command that starts with the
    reads: it names one, with none of its options that read nothing (or an
    abbreviation argparse would take for one). A guess made before parsing:
    reads begun for a command line that then fails, or takes another path,
    are closed unused."""
    if not argv or argv[0] not in READ_FIRST:
        return False
    options = argv[1:argv.index("--")] if "--" in argv else argv[1:]
    for arg in options:
        name = arg.split("=", 1)[0]
        if name == "-h" or (len(name) >= 3 and any(o.startswith(name) for o in READ_FIRST[argv[0]])):
            return False
    return True


def exit_without_teardown(code: int) -> None:
    """End the process with ``code`` now, skipping the interpreter's teardown.

    Freeing every module and object of a scan (numpy, Rich, pt) takes the
    interpreter 20-40 ms after the output is complete, work whose only
    effect is on memory the kernel takes back anyway. So stdout and stderr
    are flushed and the process ends with ``os._exit``. Returns instead
    (the caller exits the usual way) when the teardown would do more than
    free memory: a flush fails (a reader gone from stdout, reported as
    always), another thread still runs (joined at exit), or something
    registered an ``atexit`` callback (logging, multiprocessing,
    ``weakref.finalize``). The files pt writes are closed by ``with``
    blocks before a command returns.
    """
    import atexit
    import threading
    pending = getattr(atexit, "_ncallbacks", None)      # CPython's; elsewhere, exit the usual way
    if not isinstance(code, int) or pending is None or pending() or threading.active_count() > 1:
        return
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except Exception:   # noqa: BLE001 - the usual exit flushes again and reports it as it always did
        return
    os._exit(code)


def main() -> int:
    """Pin BLAS threads, begin the reads if the command starts with them
    (:func:`reads_first`), then run the command line (numpy is imported
    later, inside commands); ends the process when the command returns
    (:func:`exit_without_teardown`), else returns its exit code."""
    pin_blas_threads()
    if not reads_first(sys.argv[1:]):
        from pt.cli import console_main
        code = console_main()
    else:
        from pt.collect import early
        try:
            early.begin()
            from pt.cli import console_main
            code = console_main()
        except KeyboardInterrupt:           # while the reads began or pt.cli loaded: as the commands do
            from pt.exit_codes import INTERRUPTED
            code = INTERRUPTED
        finally:
            early.discard()
    exit_without_teardown(code)
    return code


if __name__ == "__main__":
    sys.exit(main())

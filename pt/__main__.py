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
    """Pin BLAS threads, then run the command line (numpy is imported later,
    inside commands); ends the process when the command returns
    (:func:`exit_without_teardown`), else returns its exit code."""
    pin_blas_threads()
    from pt.cli import console_main
    code = console_main()
    exit_without_teardown(code)
    return code


if __name__ == "__main__":
    sys.exit(main())

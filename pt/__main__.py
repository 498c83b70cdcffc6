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


def main() -> int:
    """Pin BLAS threads, then run the command line (numpy is imported later, inside commands)."""
    pin_blas_threads()
    from pt.cli import console_main
    return console_main()


if __name__ == "__main__":
    sys.exit(main())

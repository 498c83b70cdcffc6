"""Thread CPU time per element of ``betaln`` and ``beta_logpdf`` against SciPy.

    python bench/kernel_cputime.py [--modules DIR] [--n 100000] [--calls 30]

Prints one JSON line: for each case the least thread CPU time of ``--calls``
calls (``time.thread_time_ns``: other work on the machine inflates wall-clock
time far more than CPU time), in ns per element, pt's and SciPy's, taken
alternately in this one interpreter, plus the load average.  ``--modules DIR``
loads the ``_special`` and ``_densities`` extension modules (and their AVX2
builds) found in DIR in place of the installed ones (a build of another commit),
so two builds can be compared by alternating interpreters:

    for i in 1 2 3; do
        python bench/kernel_cputime.py --modules /tmp/old-build/pt/_kernels
        python bench/kernel_cputime.py
    done

Inputs are the benchmark's (``bench/test_bench_kernels.py``): a, b ~ U(0.1, 50),
x ~ Beta(a, b), seed 0; plus the regions by kind.
"""
from __future__ import annotations

import argparse
import glob
import importlib.util
import json
import os
import sys
import time


def _load_modules(directory):
    """Put the extension modules of ``directory`` in place of pt's own (``_special`` first:
    ``_densities`` takes its C functions from it at import).  A build without the AVX2
    builds (a commit before them) stands in for them with its ``_special`` and
    ``_densities``, so that ``pt.kernels`` runs the build given whatever the CPU."""
    import pt._kernels as package
    for name in ("_special", "_densities", "_special_avx2", "_densities_avx2"):
        found = glob.glob(os.path.join(directory, name + ".*.so"))
        if not found and name.endswith("_avx2"):
            module = getattr(package, name.removesuffix("_avx2"))
            sys.modules["pt._kernels." + name] = module
            setattr(package, name, module)
            continue
        path, = found
        spec = importlib.util.spec_from_file_location("pt._kernels." + name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        setattr(package, name, module)


def _cpu_ns(call, calls):
    best = None
    for _ in range(calls):
        start = time.thread_time_ns()
        call()
        spent = time.thread_time_ns() - start
        best = spent if best is None else min(best, spent)
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", help="directory holding _special and _densities builds (and their AVX2 builds) to load instead")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=30)
    args = parser.parse_args(argv)
    if args.modules:
        _load_modules(args.modules)
    import numpy as np
    import scipy.special as sc
    import scipy.stats as st

    import pt.kernels as K

    n = args.n
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.1, 50.0, n), rng.uniform(0.1, 50.0, n)
    x = rng.beta(a, b)
    small, big = rng.uniform(0.1, 8.0, n), rng.uniform(8.0, 50.0, n)
    big2 = rng.uniform(9.0, 50.0, n)
    xm = rng.beta(small, big)
    xs = rng.beta(3.0, 7.0, n)
    b2 = np.ascontiguousarray(big2[::-1])
    x9 = rng.beta(big2, b2)
    cases = {
        "betaln": (lambda: K.betaln(a, b), lambda: sc.betaln(a, b)),
        "beta_logpdf": (lambda: K.beta_logpdf(x, a, b), lambda: st.beta.logpdf(x, a, b)),
        "betaln a<8<=b": (lambda: K.betaln(small, big), lambda: sc.betaln(small, big)),
        "beta_logpdf a<8<=b": (lambda: K.beta_logpdf(xm, small, big), lambda: st.beta.logpdf(xm, small, big)),
        "beta_logpdf shared (3, 7)": (lambda: K.beta_logpdf(xs, 3.0, 7.0), lambda: st.beta.logpdf(xs, 3.0, 7.0)),
    }
    cases["beta_logpdf a,b>=9"] = (lambda: K.beta_logpdf(x9, big2, b2), None)
    result = {"modules": args.modules or "installed", "n": n, "load": os.getloadavg()[0]}
    for name, (pt_call, scipy_call) in cases.items():
        pt_call()
        pt_ns = sp_ns = None
        for _ in range(2):                   # alternate pt and SciPy, twice
            t = _cpu_ns(pt_call, args.calls // 2)
            pt_ns = t if pt_ns is None else min(pt_ns, t)
            if scipy_call is not None:
                t = _cpu_ns(scipy_call, args.calls // 2)
                sp_ns = t if sp_ns is None else min(sp_ns, t)
        row = {"pt_ns_per_elem": round(pt_ns / n, 2)}
        if sp_ns is not None:
            row["scipy_ns_per_elem"] = round(sp_ns / n, 2)
            row["scipy_over_pt"] = round(sp_ns / pt_ns, 2)
        result[name] = row
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""Command-category classifier: pt (rows deduplicated, one combined regex per
match target) against the rule-by-rule baseline (every process against every
rule with ``re.match``, the same answers), on rows sampled with repeats from
the test table, a share of them given a unique temporary-path argument.

    pytest bench/test_bench_categories.py --benchmark-enable
"""
from __future__ import annotations

import random

import numpy as np
import pytest

from pt.features.categories import load_rules
from pt.testing import COMMAND_CASES, case_comm, classify_naive

#: (rows, share of rows with a unique temp-path argument)
TABLES = [(2000, 0.1), (10000, 0.1), (2000, 1.0)]


def sample_rows(n: int, unique_share: float, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """``comm`` and ``cmdline`` columns of ``n`` processes drawn from COMMAND_CASES."""
    rnd = random.Random(seed)
    comm = np.empty(n, dtype=object)
    cmdline = np.empty(n, dtype=object)
    for i in range(n):
        _, argv, c = rnd.choice(COMMAND_CASES)
        if rnd.random() < unique_share:
            argv = (*argv, f"/tmp/pytest-of-u/pytest-{i}/test_run{i}0/report.xml")
        comm[i], cmdline[i] = case_comm(argv, c), argv
    return comm, cmdline


@pytest.fixture(scope="module")
def rules():
    return load_rules()


@pytest.fixture(scope="module", params=TABLES, ids=lambda t: f"{t[0]}rows-{int(t[1] * 100)}pct-unique")
def table(request):
    n, share = request.param
    return f"categories-{n}-{int(share * 100)}pct-unique", sample_rows(n, share)


def test_pt_classify(benchmark, rules, table):
    group, (comm, cmdline) = table
    benchmark.group = group
    benchmark.extra_info["role"] = "pt"
    codes = benchmark(rules.classify, comm, cmdline)
    assert codes.shape == comm.shape


def test_naive_classify(benchmark, rules, table):
    group, (comm, cmdline) = table
    benchmark.group = group
    benchmark.extra_info["role"] = "naive"
    codes = benchmark.pedantic(classify_naive, args=(rules, comm, cmdline), rounds=3, iterations=1)
    assert np.array_equal(codes, rules.classify(comm, cmdline))

"""Hostile config files: a clear error naming the file and the problem, or a
model that gives finite posteriors; never a traceback."""
import contextlib
import io
import json
import os
from importlib import resources

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pt.cli import main
from pt.config import (CATEGORICAL_LEVELS, CLASSES, MAX_DEPTH, MAX_FILE_BYTES, ConfigError, load_policy,
                       load_priors)
from pt.decide.loss import decide
from pt.features.categories import load_rules
from pt.infer.posterior import Evidence, ModelTables, infer
from pt.triage import triage

SHIPPED_PRIORS = json.loads(resources.files("pt.data").joinpath("priors.json").read_text())
SHIPPED_POLICY = json.loads(resources.files("pt.data").joinpath("policy.json").read_text())
SHIPPED_RULES = json.loads(resources.files("pt.data").joinpath("categories.json").read_text())


def _validate(tmp_path, *extra):
    """``pt config validate`` in-process with an isolated config dir: exit code and stderr."""
    err = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stderr(err), \
            contextlib.redirect_stdout(io.StringIO()):
        mp.setenv("XDG_CONFIG_HOME", str(tmp_path))
        code = main(["config", "validate", *extra])
    return code, err.getvalue()


def _user_file(tmp_path, name, content: bytes):
    (tmp_path / "pt").mkdir(exist_ok=True)
    path = tmp_path / "pt" / name
    path.write_bytes(content)
    return path


def test_subnormal_runtime_prior_is_rejected_naming_the_key(tmp_path):
    path = _user_file(tmp_path, "priors.json", b'{"runtime": {"useful": [1e-320, 1e-320]}}')
    with pytest.raises(ConfigError) as info:
        load_priors(path)
    assert info.value.key == "runtime.useful[0]" and info.value.value == 1e-320
    code, err = _validate(tmp_path)
    assert code == 1 and str(path) in err and "runtime.useful[0]" in err and "Traceback" not in err


NESTED = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize("name", ["priors.json", "policy.json", "categories.json"])
@pytest.mark.parametrize("content, problem", [
    (b'{"version": 1, "doc": "caf\xe9 \xff"}', "not UTF-8"),
    (NESTED, "nested more than"),
    (b'{"doc": ' + b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1) + b"}", "nested more than"),
    (b'{"version": ' + b"9" * 5000 + b"}", "not valid JSON"),
    (b'{"doc": "' + b"x" * MAX_FILE_BYTES + b'"}', "larger than"),
    (b"\x00\x01\x02", "not valid JSON"),
])
def test_hostile_files_give_a_clear_error_naming_the_file(tmp_path, name, content, problem):
    path = _user_file(tmp_path, name, content)
    code, err = _validate(tmp_path)
    assert code == 1 and "Traceback" not in err
    assert str(path) in err and problem in err
    assert len(err) < 1000                                  # the value is shown truncated


@pytest.mark.parametrize("name, content, key", [
    ("priors.json", b'{"class_prior": {"useful": 1' + b"0" * 400 + b"}}", "class_prior.useful"),
    ("policy.json", b'{"loss": {"kill": {"useful": -1' + b"0" * 400 + b"}}}", "loss.kill.useful"),
])
def test_integers_beyond_any_double_are_not_finite_numbers(tmp_path, name, content, key):
    path = _user_file(tmp_path, name, content)
    code, err = _validate(tmp_path)
    assert code == 1 and f"{path}: {key} = " in err and "must be a finite number" in err and len(err) < 500


@pytest.mark.parametrize("name", ["priors.json", "policy.json", "categories.json"])
def test_a_fifo_or_device_is_refused_not_read(tmp_path, name):
    (tmp_path / "pt").mkdir()
    os.mkfifo(tmp_path / "pt" / name)                       # reading it would block forever
    code, err = _validate(tmp_path)
    assert code == 1 and "not a regular file" in err
    os.unlink(tmp_path / "pt" / name)
    os.symlink("/dev/zero", tmp_path / "pt" / name)         # reading it would never end
    code, err = _validate(tmp_path)
    assert code == 1 and "not a regular file" in err


def test_deeply_nested_regexes_are_bad_regexes(tmp_path):
    deep = "(" * 5000 + "x" + ")" * 5000
    _user_file(tmp_path, "policy.json", json.dumps({"guards": {"protected_patterns": [deep]}}).encode())
    code, err = _validate(tmp_path)
    assert code == 1 and "guards.protected_patterns" in err and "not a valid regex" in err
    rules = {"version": 1, "rules": [{"category": "shell", "match": "comm", "regex": deep}]}
    path = _user_file(tmp_path, "rules.json", json.dumps(rules).encode())
    code, err = _validate(tmp_path, "--policy", str(tmp_path / "none.json"), "--rules", str(path))
    assert code == 1 and "Traceback" not in err


def test_validate_reads_the_user_rules_file(tmp_path):
    path = _user_file(tmp_path, "categories.json", b'{"version": 1, "rules": [{"category": "gardening"}]}')
    code, err = _validate(tmp_path)
    assert code == 1 and str(path) in err and "rules[0]" in err


# --- every priors value that validates gives finite posteriors ---------------------------

def _numeric_paths(doc, prefix=()):
    """Key paths of every number in a priors/policy document."""
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _numeric_paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _numeric_paths(v, prefix + (i,))
    elif isinstance(doc, (int, float)) and not isinstance(doc, bool) and prefix[0] != "version":
        yield prefix


PRIOR_PATHS = list(_numeric_paths(SHIPPED_PRIORS))
POLICY_PATHS = [p for p in _numeric_paths(SHIPPED_POLICY)
                if p[0] in ("loss", "dependency_impact", "robust_prior", "fdr")]

#: Values at and around every edge: zero, subnormal, the smallest normal,
#: tiny, the domain bounds and just past them, huge, the largest double, and an
#: integer beyond any double.
EDGES = [0.0, 5e-324, 1e-320, 1e-310, 2.2250738585072014e-308, 1e-300, 1e-20, 1e-9, 1e-7, 1e-6,
         1.0000001e-6, 1e-3, 0.5, 0.9999999, 1.0, 2.0, 1e3, 1e6, 1.000001e6, 1e9, 1e12, 1.1e12,
         1e20, 1e300, 1.7976931348623157e308, 10**400]
VALUES = st.one_of(st.sampled_from(EDGES), st.floats(min_value=0.0, max_value=1.7976931348623157e308),
                   st.floats(min_value=5e-324, max_value=1e-3))


def _set(doc, path, value):
    for key in path[:-1]:
        doc = doc[key]
    doc[path[-1]] = value


def _extreme_evidence() -> Evidence:
    """Rows at the edges of what a scan produces: ages from 0 to 300 years,
    windows from none to 60 s (and other lengths, as deep-scan counts have),
    every level of every categorical feature, and unobserved features."""
    ages = [0.0, 1e-9, 1e-3, 1.0, 3600.0, 1e6, 1e10]
    cpu = [(0, 0), (0, 30), (30, 30), (1, 30), (0, 6000), (6000, 6000), (5999, 5999), (0, 4000)]
    n = max(len(ages), len(cpu), *(len(v) + 1 for v in CATEGORICAL_LEVELS.values()))

    def cycle(values):
        return np.array([values[i % len(values)] for i in range(n)])

    return Evidence(
        cpu_ticks=cycle([k for k, _ in cpu]), window_ticks=cycle([w for _, w in cpu]),
        age_s=cycle(ages), orphaned=cycle([-1, 0, 1]), io_active=cycle([1, 0, -1]),
        tty_idle_s=cycle([np.nan, 0.0, 60.0, 7200.0, 2e5, 1e10]),      # every activity level, and none
        **{f: cycle(list(range(-1, len(levels)))) for f, levels in CATEGORICAL_LEVELS.items()
           if f != "activity"})


def _assert_finite_model(priors, policy):
    inference = infer(_extreme_evidence(), ModelTables(priors))
    assert np.isfinite(inference.terms).all() and np.isfinite(inference.log_posterior).all()
    assert np.allclose(inference.posterior.sum(axis=1), 1.0)
    n = len(inference.posterior)
    decision = decide(inference, policy, impact=np.full(n, 50.0),
                      available=np.ones((n, 7), dtype=bool), protected=np.zeros(n, dtype=bool))
    assert np.isfinite(decision.expected_loss).all()
    assert np.isfinite(decision.posterior_lower).all() and np.isfinite(decision.posterior_upper).all()


def _check(tmp_path, name, doc, changed):
    """Validate ``doc`` as the user's ``name``; either it is refused naming a
    changed key (or the section a sum check names), or the scan and the
    model at extreme evidence give finite posteriors."""
    path = _user_file(tmp_path, name, json.dumps(doc).encode())
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CONFIG_HOME", str(tmp_path))
        mp.setenv("PT_TELEMETRY", "off")
        try:
            priors, policy = load_priors(), load_policy()
        except ConfigError as exc:
            assert exc.file == str(path)
            named = {".".join(str(k) for k in p[:-1]) + f"[{p[-1]}]" if isinstance(p[-1], int)
                     else ".".join(p) for p in changed}
            sections = {p[0] for p in changed} | {".".join(p[:-1]) for p in changed}
            assert exc.key in named | sections, (exc.key, named)
            return
        t = triage(window_s=0.01)
    assert np.isfinite(t.inference.log_posterior).all()
    assert np.isfinite(t.decision.posterior_lower).all()
    _assert_finite_model(priors, policy)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=st.lists(st.tuples(st.sampled_from(PRIOR_PATHS), VALUES), min_size=1, max_size=4))
def test_priors_near_the_edges_are_rejected_or_give_finite_posteriors(tmp_path, changes):
    doc = json.loads(json.dumps(SHIPPED_PRIORS))
    for path, value in changes:
        _set(doc, path, value)
    _check(tmp_path, "priors.json", doc, [p for p, _ in changes])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=st.lists(st.tuples(st.sampled_from(POLICY_PATHS), VALUES), min_size=1, max_size=4))
def test_policy_near_the_edges_is_rejected_or_gives_finite_decisions(tmp_path, changes):
    doc = json.loads(json.dumps(SHIPPED_POLICY))
    for path, value in changes:
        _set(doc, path, value)
    _check(tmp_path, "policy.json", doc, [p for p, _ in changes])


def test_the_domain_bounds_themselves_give_finite_posteriors(tmp_path):
    """The corners: every pair at its smallest and largest allowed values."""
    from pt.config import PAIR_DOMAINS, PSEUDO_COUNT
    for corner in (0, 1):
        doc = json.loads(json.dumps(SHIPPED_PRIORS))
        for feature, domains in PAIR_DOMAINS.items():
            for i, c in enumerate(CLASSES):
                doc[feature][c] = [domains[0][(corner + i) % 2], domains[1][(corner + i // 2) % 2]]
        for feature in CATEGORICAL_LEVELS:
            for i, c in enumerate(CLASSES):
                doc["categorical"][feature][c] = [PSEUDO_COUNT[(corner + i + j) % 2]
                                                  for j in range(len(CATEGORICAL_LEVELS[feature]))]
        path = _user_file(tmp_path, "priors.json", json.dumps(doc).encode())
        _assert_finite_model(load_priors(path), load_policy())


# --- any JSON anywhere: a ConfigError or a valid config, nothing else -------------------

def _all_paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _all_paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _all_paths(v, prefix + (i,))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-10**30, max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8)


@pytest.mark.parametrize("name, shipped, load", [("priors.json", SHIPPED_PRIORS, load_priors),
                                                 ("policy.json", SHIPPED_POLICY, load_policy),
                                                 ("categories.json", SHIPPED_RULES, load_rules)])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_json_in_any_place_is_valid_or_a_config_error(tmp_path, name, shipped, load, data):
    doc = json.loads(json.dumps(shipped))
    paths = [p for p in _all_paths(doc) if p]
    for _ in range(data.draw(st.integers(1, 3), label="changes")):
        path = data.draw(st.sampled_from(paths), label="path")
        try:
            _set(doc, path, data.draw(JSON_VALUES, label="value"))
        except (KeyError, IndexError, TypeError):
            pass                                          # an earlier change replaced the parent
    path = _user_file(tmp_path, name, json.dumps(doc).encode())
    try:
        load(path)
    except ConfigError as exc:
        assert exc.file == str(path) and len(str(exc)) < 2000

"""Property tests over what pt reads from outside when acting: plan files and
journal lines, arbitrary bytes and arbitrary JSON. The property: a clear
error (PlanError) or a skipped record — never a traceback — and never an
action on anything the plan does not name.

The only processes that can be signalled are sleepers this test started.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from rich.console import Console

from pt.act.apply import apply_plan, undo_plan, verify_plan
from pt.act.journal import Journal, outcomes_by_action, pending_intents
from pt.act.plan import PlanError, load_plan, plan_id
from pt.testing import _state, acting_policy, plan_for, sleepers, wait_for
from pt.ui.plan_view import print_outcomes, print_plan, print_plan_explain, print_verify

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))

scalars = st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=20)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=12)


def quiet() -> Console:
    return Console(file=io.StringIO(), width=200)


def load_bytes(data: bytes) -> dict | None:
    """load_plan of a file holding ``data``: the plan, or None after a PlanError."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "plan.json"
        path.write_bytes(data)
        try:
            return load_plan(str(path))
        except PlanError as exc:
            assert str(exc)                       # a message naming what is wrong
            return None


@SETTINGS
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_are_not_a_plan(data):
    assert load_bytes(data) is None


@SETTINGS
@given(json_values)
def test_arbitrary_json_with_a_matching_id_is_a_clear_error(value):
    if isinstance(value, dict):
        value = {**value, "pt_plan_version": 1}
        value["plan_id"] = plan_id(value)
    assert load_bytes(json.dumps(value).encode()) is None


def _paths(doc, prefix=()):
    """Every key path into a JSON document."""
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, prefix + (i,))


def _replace(doc, path, value):
    if not path:
        return value
    out = dict(doc) if isinstance(doc, dict) else list(doc)
    out[path[0]] = _replace(doc[path[0]], path[1:], value)
    return out


@contextlib.contextmanager
def a_sleeper():
    with sleepers(1) as (proc,):
        try:
            yield proc
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGCONT)


@SETTINGS
@given(st.data())
def test_a_mutated_plan_is_refused_or_acts_only_on_what_it_names(data):
    """One field of a valid plan for our sleeper replaced by arbitrary JSON
    (id recomputed, as an agent writing plans could): loading, showing and
    applying it give a PlanError or outcomes; any intent written is for our
    sleeper and for a target the loaded plan names."""
    with a_sleeper() as proc, tempfile.TemporaryDirectory() as tmp:
        plan = plan_for([proc.pid], data.draw(st.sampled_from(["pause", "renice", "kill"])))
        paths = [p for p in _paths(plan) if p and p[0] != "plan_id"]
        identity = [p for p in paths if p[:3] == ("actions", 0, "target")]
        where = data.draw(st.sampled_from(identity) | st.sampled_from(paths))
        mutated = _replace(plan, where, data.draw(json_values | st.integers(-2**70, 2**70)))
        mutated["plan_id"] = plan_id(mutated)
        loaded = load_bytes(json.dumps(mutated).encode())
        event("refused when loaded" if loaded is None else "loaded")
        if loaded is None:
            return
        print_plan(loaded, quiet())
        journal = Journal(Path(tmp))
        try:
            outcomes = apply_plan(loaded, journal=journal, policy=acting_policy())
        except PlanError:
            event("refused whole by apply")
            return
        event("applied: " + ",".join(sorted({o["result"] for o in outcomes})))
        print_outcomes(outcomes, "applied", quiet())
        named = {(a["target"]["pid"], a["target"]["start_ticks"]) for a in loaded["actions"]}
        ours = (proc.pid, plan["actions"][0]["target"]["start_ticks"])
        for r in journal.records():
            if r["kind"] == "intent":
                assert (r["pid"], r["start_ticks"]) in named and (r["pid"], r["start_ticks"]) == ours


record_keys = st.fixed_dictionaries(
    {}, optional={k: json_values for k in ("kind", "plan_id", "action_id", "action", "pid", "start_ticks",
                                           "uid", "boot_id", "cmd_hash", "ts", "params", "result",
                                           "detail", "exit_status", "justification", "uptime_ticks")})
journal_line = (json_values.map(json.dumps) | record_keys.map(json.dumps)
                | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))


@SETTINGS
@given(st.lists(journal_line, max_size=8), st.data())
def test_journal_lines_are_records_or_skipped(lines, data):
    """Arbitrary lines (and record-shaped objects with arbitrary values, some
    made to name this plan) among a real apply's records: every reader gets
    on with it, and undo acts on nothing but the plan's own target."""
    with a_sleeper() as proc, tempfile.TemporaryDirectory() as tmp:
        plan = plan_for([proc.pid], "pause")
        journal = Journal(Path(tmp))
        apply_plan(plan, journal=journal, policy=acting_policy())
        real = json.loads(journal.path.read_text().splitlines()[-1])
        forged = [json.dumps({**real, data.draw(st.sampled_from(sorted(real))): data.draw(json_values)})
                  for _ in range(data.draw(st.integers(0, 3)))]
        with open(journal.path, "a", encoding="utf-8", errors="surrogateescape") as f:
            for line in lines + forged:
                f.write(line.replace("\n", " ") + "\n")
        records = journal.records()
        event(f"skipped {journal.skipped}")
        assert journal.skipped <= len(lines) + len(forged)
        outcomes_by_action(records)
        pending_intents(records)
        print_verify(plan, verify_plan(plan, journal=journal), quiet())
        items = [{**r, "outcome": None} for r in records if r["kind"] == "intent" and "justification" in r]
        print_plan_explain(plan["plan_id"], items, quiet())
        undone = undo_plan(plan, journal=journal)
        assert all(r["pid"] == proc.pid for r in undone)
        wait_for(lambda: _state(proc.pid) in ("S", "T"))

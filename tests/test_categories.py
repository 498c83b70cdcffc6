"""Command and cwd categories: the shipped rules on realistic command lines,
real processes and directories, rules-file validation, user overrides."""
import json
import os
import re
import shutil
import sys
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pt.collect import collect
from pt.collect._procfs import read_links
from pt.config_errors import ConfigError
from pt.features.argv import shell_command
from pt.features.categories import (
    COMMAND_CATEGORIES,
    CWD_CATEGORIES,
    CategoryRules,
    category_names,
    classify_cwd,
    load_rules,
)
from pt.features.cwd import RepoFinder
from pt.features.rules_file import SHIPPED_NAME, read_shipped
from pt.testing import COMMAND_CASES, case_comm, classify_naive, row_of, running, sleepers, wait_for

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs procfs")


@pytest.fixture(scope="module", autouse=True)
def no_user_rules(tmp_path_factory):
    """Keep the user's own ~/.config/pt/categories.json out of these tests."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("no-config")))
        yield


@pytest.fixture(scope="module")
def rules(no_user_rules):
    return load_rules()


def columns(cases):
    """comm and cmdline columns (object arrays) for (category, argv, comm) cases."""
    comm = np.array([case_comm(argv, c) for _, argv, c in cases], dtype=object)
    cmdline = np.empty(len(cases), dtype=object)
    cmdline[:] = [argv for _, argv, _ in cases]
    return comm, cmdline


# --- the shipped rules on realistic command lines ----------------------------

def test_table_is_broad():
    counts = Counter(category for category, _, _ in COMMAND_CASES)
    assert len(COMMAND_CASES) >= 120
    assert set(counts) == set(COMMAND_CATEGORIES)
    assert min(counts.values()) >= 5, counts


def test_shipped_rules_classify_the_table(rules):
    comm, cmdline = columns(COMMAND_CASES)
    codes = rules.classify(comm, cmdline)
    assert codes.dtype == np.int8 and codes.shape == (len(COMMAND_CASES),)
    got = category_names(codes, "command")
    wrong = [(want, have, argv, getattr(rules.matching_rule(c, argv), "where", None))
             for (want, argv, _), have, c in zip(COMMAND_CASES, got, comm) if have != want]
    assert not wrong, "\n".join(map(str, wrong))


def test_vectorised_classifier_agrees_with_rule_by_rule_reference(rules):
    rng = np.random.default_rng(7)
    cases = [COMMAND_CASES[i] for i in rng.integers(0, len(COMMAND_CASES), 600)]
    comm, cmdline = columns(cases)
    cmdline[::7] = [argv + (f"/tmp/pytest-of-u/pytest-{i}/out",) for i, argv in enumerate(cmdline[::7])]
    assert np.array_equal(rules.classify(comm, cmdline), classify_naive(rules, comm, cmdline))


def test_lists_none_and_empty_argv_are_accepted(rules):
    cmdline = np.empty(4, dtype=object)
    cmdline[:] = [["pytest", "-x"], None, (), ("bash",)]
    comm = np.array(["pytest", "pytest", "kworker/0:1", "bash"], dtype=object)
    names = category_names(rules.classify(comm, cmdline), "command").tolist()
    # unreadable argv falls back to comm, as does a kernel thread's empty one
    assert names == ["test_runner", "test_runner", "unknown", "shell"]


def test_columns_of_different_lengths_are_refused(rules):
    with pytest.raises(ValueError, match="same length"):
        rules.classify(np.array(["a"], dtype=object), np.array([], dtype=object))


def test_empty_columns(rules):
    empty = np.array([], dtype=object)
    assert rules.classify(empty, empty).shape == (0,)
    assert classify_cwd(empty, np.array([], dtype=np.int64)).shape == (0,)


@pytest.mark.parametrize("code, argv", [
    ("cd /repo && exec npm run dev", ("npm", "run", "dev")),
    ("FOO=1 BAR=2 make -j4 > build.log", ("make", "-j4")),
    ("pytest -x 2>&1", ("pytest", "-x", "2")),       # shlex cannot tell an fd; views drop numbers
    ("source .venv/bin/activate; pytest -x", ("pytest", "-x")),
    ("set -e\ncd /srv\nuvicorn app:app", ("uvicorn", "app:app")),
    ("if [ -f x ]; then cargo test; fi", ("cargo", "test")),
    ("echo 'unbalanced", ()),
    ("", ()),
])
def test_shell_command_finds_the_program(code, argv):
    assert shell_command(code) == argv


# --- real processes ------------------------------------------------------------

@linux_only
def test_real_processes_from_a_snapshot(rules, tmp_path):
    sleep = shutil.which("sleep")
    with sleepers(1) as (plain,), sleepers(1, argv0="pytest") as (tester,), \
            running(["claude", "600"], executable=sleep) as agent, \
            running(["bash"]) as shell, \
            running(["sh", "-c", "read line; true"]) as wrapper, \
            running([sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1"],
                    cwd=tmp_path) as server:
        procs = {plain: "unknown", tester: "test_runner", agent: "agent", shell: "shell",
                 wrapper: "unknown", server: "dev_server"}
        snap = collect()
        pids = snap["pid"]
        names = category_names(rules.classify(snap["comm"], snap["cmdline"]), "command")
        for proc, want in procs.items():
            row = row_of(snap, proc.pid)
            assert names[pids == proc.pid][0] == want, (row["comm"], row["cmdline"])
        assert row_of(snap, tester.pid)["comm"] == "sleep"      # argv0 decides, not comm


@linux_only
def test_exe_rules_read_the_exe_link(tmp_path, monkeypatch):
    with sleepers(1, argv0="mystery") as (proc,):
        pids = np.array([proc.pid], dtype=np.int32)
        exe = read_links("/proc", pids, "exe")          # /usr/bin/sleep, or a multi-call binary
        write_user_rules(tmp_path, monkeypatch, [
            {"category": "daemon", "match": "exe", "regex": re.escape(os.path.basename(exe[0])) + "$"}])
        rules = load_rules()
        comm = np.array(["sleep"], dtype=object)
        cmdline = np.empty(1, dtype=object)
        cmdline[0] = ("mystery", "600")
        assert category_names(rules.classify(comm, cmdline, exe), "command")[0] == "daemon"
        assert category_names(rules.classify(comm, cmdline), "command")[0] == "unknown"


# --- working directories -----------------------------------------------------------

def cwd_names(paths, uid=1000, **kwargs):
    cwd = np.array(paths, dtype=object)
    return category_names(classify_cwd(cwd, np.full(len(paths), uid), **kwargs), "cwd").tolist()


def test_cwd_categories_of_real_directories(tmp_path):
    home = tmp_path / "home" / "u"
    repo = home / "src" / "proj"
    (repo / ".git").mkdir(parents=True)
    (repo / "pkg" / "sub").mkdir(parents=True)
    (home / "notes").mkdir()
    (home / "tmp" / "x").mkdir(parents=True)
    (tmp_path / "hg" / ".hg").mkdir(parents=True)
    (tmp_path / "jj" / ".jj").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    paths = [str(repo), str(repo / "pkg" / "sub"), str(tmp_path / "hg"), str(tmp_path / "jj"),
             str(home / "notes"), str(home), str(home / "tmp" / "x"), str(tmp_path / "elsewhere"),
             "/", None, "relative/path", str(home / "notes") + " (deleted)"]
    assert cwd_names(paths, homes={1000: str(home)}) == [
        "repo", "repo", "repo", "repo",
        "home", "home",            # a home under /tmp is still a home: the deeper anchor wins
        "temp",                    # a scratch directory below the home
        "temp",                    # under /tmp and nobody's home
        "root", "unknown", "unknown", "deleted"]


def test_temp_roots_and_scratch_names():
    assert cwd_names(["/var/tmp/build", "/dev/shm/x", "/srv/tmpa1b2c3d4/run", "/srv/app",
                      "/opt/pytest-of-ci/pytest-3"], homes={}) == \
        ["temp", "temp", "temp", "unknown", "temp"]


def test_tmpdir_inside_the_home_is_temp(tmp_path):
    home = tmp_path / "home"
    scratch = home / ".cache" / "scratch"
    (scratch / "job").mkdir(parents=True)
    assert cwd_names([str(scratch / "job")], homes={1000: str(home)}, tmpdir=str(scratch)) == ["temp"]
    assert cwd_names([str(scratch / "job")], homes={1000: str(home)}, tmpdir="") == ["home"]


def test_home_is_the_owners(tmp_path):
    alice, bob = tmp_path / "alice", tmp_path / "bob"
    (alice / "w").mkdir(parents=True)
    cwd = np.array([str(alice / "w")] * 2, dtype=object)
    codes = classify_cwd(cwd, np.array([1, 2]), homes={1: str(alice), 2: str(bob)})
    assert category_names(codes, "cwd").tolist() == ["home", "temp"]   # bob: just a dir under /tmp


@linux_only
def test_home_from_the_password_database():
    home = os.path.expanduser("~")
    if not os.path.isdir(home) or home == "/" or RepoFinder().inside(home):
        pytest.skip("this user's home is missing, / or a repository")
    assert cwd_names([home], uid=os.getuid(), tmpdir="") == ["home"]


@linux_only
def test_deleted_cwd_of_a_real_process(tmp_path):
    gone = tmp_path / "gone"
    gone.mkdir()
    with running([shutil.which("sleep"), "600"], cwd=gone) as proc:
        gone.rmdir()
        pids = np.array([proc.pid], dtype=np.int32)
        wait_for(lambda: read_links("/proc", pids, "cwd")[0].endswith(" (deleted)"))
        cwd = read_links("/proc", pids, "cwd")
        assert category_names(classify_cwd(cwd, np.array([os.getuid()])), "cwd").tolist() == ["deleted"]


def test_repo_walks_are_cached_per_directory(tmp_path):
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    dirs = [repo / f"d{i}" / "src" for i in range(25)] + [tmp_path / "plain" / f"d{i}" for i in range(25)]
    for d in dirs:
        d.mkdir(parents=True)
    finder = RepoFinder()
    answers = [finder.inside(str(dirs[i % 50])) for i in range(2000)]
    assert answers == [i % 50 < 25 for i in range(2000)]
    distinct_dirs = {str(p) for d in dirs for p in (d, *d.parents)}
    assert finder.probed <= len(distinct_dirs)
    assert finder.probed < 150                     # ~50 walks, not 2,000


def test_classify_cwd_deduplicates_rows(tmp_path):
    (tmp_path / "r" / ".git").mkdir(parents=True)
    cwd = np.array([str(tmp_path / "r"), None, "/"] * 700, dtype=object)
    names = category_names(classify_cwd(cwd, np.zeros(len(cwd), dtype=np.int64)), "cwd")
    assert names.tolist() == ["repo", "unknown", "root"] * 700


# --- validation of rules files --------------------------------------------------

GOOD_RULE = {"category": "build", "match": "argv0", "regex": "make$"}


def rules_doc(**changes):
    return {"version": 1, "rules": [GOOD_RULE], **changes}


@pytest.mark.parametrize("doc, key, value, problem", [
    (rules_doc(rules=[GOOD_RULE, {**GOOD_RULE, "category": "tester"}]), "rules[1].category", "tester",
     "unknown category"),
    (rules_doc(rules=[{**GOOD_RULE, "regex": "[abc"}]), "rules[0].regex", "[abc",
     "unterminated character set"),
    (rules_doc(rules=[{**GOOD_RULE, "match": "args"}]), "rules[0].match", "args", "unknown match target"),
    (rules_doc(rules=[{**GOOD_RULE, "priority": "high"}]), "rules[0].priority", "high", "integer"),
    (rules_doc(rules=[{**GOOD_RULE, "priority": True}]), "rules[0].priority", True, "integer"),
    (rules_doc(rules=[{**GOOD_RULE, "regex": 3}]), "rules[0].regex", 3, "string"),
    (rules_doc(rules="make"), "rules", "make", "list"),
    (rules_doc(rules=["make"]), "rules[0]", "make", "object"),
    (rules_doc(rules=[{**GOOD_RULE, "categry": "build"}]), "rules[0].categry", "build", "unknown key"),
    (rules_doc(rules=[{"category": "build", "match": "argv0"}]), "rules[0]",
     {"category": "build", "match": "argv0"}, "missing required key 'regex'"),
    (rules_doc(rules=[{**GOOD_RULE, "regex": "(?P<tool>make)"}]), "rules[0].regex", "(?P<tool>make)",
     "named groups"),
    (rules_doc(rules=[{**GOOD_RULE, "regex": r"(a)\1"}]), "rules[0].regex", r"(a)\1", "backreferences"),
    (rules_doc(rules=[{**GOOD_RULE, "regex": "(?i)make"}]), "rules[0].regex", "(?i)make",
     "(?i:...)"),
    (rules_doc(version=2), "version", 2, "unsupported version"),
    (rules_doc(version="1"), "version", "1", "unsupported version"),
    ({"rules": []}, "version", None, "unsupported version"),
    (rules_doc(extra=1), "extra", 1, "unknown key"),
    (rules_doc(interpreters=[{"argv0": "wrap$", "getopt": "yes"}]), "interpreters[0].getopt", "yes",
     "true or false"),
    (rules_doc(interpreters=[{"argv0": "wrap$", "options_with_value": ["x"]}]),
     "interpreters[0].options_with_value[0]", "x", "option"),
    (rules_doc(interpreters=[{"argv0": "wrap(", "getopt": True}]), "interpreters[0].argv0", "wrap(",
     "missing )"),
    (rules_doc(interpreters=[{"argv0": "w$", "skip_positionals": -1}]),
     "interpreters[0].skip_positionals", -1, ">= 0"),
    ([1, 2], "<document>", [1, 2], "JSON object"),
])
def test_bad_rules_files_name_file_key_and_value(tmp_path, doc, key, value, problem):
    path = tmp_path / "categories.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ConfigError) as info:
        load_rules(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {key} = {value!r}: "), message
    assert problem in message
    assert (info.value.file, info.value.key, info.value.value) == (str(path), key, value)
    assert isinstance(info.value, ValueError)


def test_invalid_json_and_missing_file_are_config_errors(tmp_path):
    path = tmp_path / "categories.json"
    path.write_text('{"version": 1, "rules": [}')
    with pytest.raises(ConfigError, match=r"categories\.json: <document> = .*not valid JSON"):
        load_rules(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_rules(tmp_path / "missing.json")


def test_shipped_file_is_valid_and_documented():
    rules = load_rules()
    assert len(rules.rules) > 50 and rules.n_user == 0
    from importlib import resources
    doc = json.loads(resources.files("pt.data").joinpath("categories.json").read_text())
    categories = {r["category"] for r in doc["rules"]}
    assert categories == set(COMMAND_CATEGORIES)
    first_of_group = {}
    for rule in doc["rules"]:
        first_of_group.setdefault(rule["category"], rule)
    assert all("doc" in rule for rule in first_of_group.values())


# --- user rules --------------------------------------------------------------------

def write_user_rules(config_home, monkeypatch, rules, interpreters=()):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_home))
    (config_home / "pt").mkdir(exist_ok=True)
    path = config_home / "pt" / "categories.json"
    path.write_text(json.dumps({"version": 1, "rules": rules, "interpreters": list(interpreters)}))
    return path


def classify_one(rules, argv, comm=None):
    cmdline = np.empty(1, dtype=object)
    cmdline[0] = argv
    comm = np.array([case_comm(argv, comm)], dtype=object)
    return category_names(rules.classify(comm, cmdline), "command")[0]


def test_user_rules_are_tried_before_shipped_ones(tmp_path, monkeypatch):
    path = write_user_rules(tmp_path, monkeypatch, [
        {"category": "build", "match": "argv0", "regex": "pytest$", "doc": "my pytest only builds"},
        {"category": "daemon", "match": "cmdline", "regex": r"sleep infinity\b", "priority": -5},
        {"category": "unknown", "match": "argv0", "regex": "python3$"},
    ])
    rules = load_rules()
    assert rules.n_user == 3
    assert classify_one(rules, ("pytest", "-x")) == "build"
    assert classify_one(rules, ("/bin/sleep", "infinity")) == "daemon"
    # a user rule on the interpreter wins over a shipped rule on the program it runs
    assert classify_one(rules, ("python3", "-m", "unittest")) == "unknown"
    assert classify_one(rules, ("make", "-j4")) == "build"              # shipped rules still apply
    assert rules.matching_rule("pytest", ("pytest",)).where == f"{path}: rules[0]"


def test_a_rule_that_gives_up_on_a_value_does_not_match_it(tmp_path, monkeypatch):
    """A catastrophic user rule is cut off by the bound: the value falls
    through to the next rules (here the shipped ones), other values still match."""
    write_user_rules(tmp_path, monkeypatch, [
        {"category": "server", "match": "cmdline", "regex": "(a+)+$"},
        {"category": "server", "match": "argv0", "regex": "(a+)+$"},
        {"category": "daemon", "match": "argv0", "regex": "mydaemon$"}])
    rules = load_rules()
    shipped = read_shipped()
    shipped_only = CategoryRules((), shipped.rules, shipped.interpreters)
    hostile = ("a" * 40 + "b", "900")
    assert classify_one(rules, hostile, comm="sleep") == classify_one(shipped_only, hostile, comm="sleep")
    rule = rules.matching_rule("sleep", hostile)
    assert rule is None or rule.where.startswith(SHIPPED_NAME)
    assert classify_one(rules, ("aaaa",)) == "server" and classify_one(rules, ("mydaemon",)) == "daemon"


def test_an_interpreter_regex_that_gives_up_leaves_comm_rules(tmp_path, monkeypatch):
    write_user_rules(tmp_path, monkeypatch, [{"category": "daemon", "match": "comm", "regex": "sleep$"}],
                     [{"argv0": "(a+)+$"}])
    rules = load_rules()
    assert classify_one(rules, ("a" * 40 + "b", "900"), comm="sleep") == "daemon"
    assert classify_one(rules, ("aaaa", "pytest"), comm="aaaa") == "test_runner"    # looked through


def test_user_interpreters_are_looked_through(tmp_path, monkeypatch):
    write_user_rules(tmp_path, monkeypatch, [], [
        {"argv0": "mywrap$", "options_with_value": ["--slot"], "doc": "our CI wrapper"}])
    rules = load_rules()
    assert classify_one(rules, ("mywrap", "--slot", "3", "pytest", "-x")) == "test_runner"
    assert classify_one(rules, ("mywrap", "cargo", "build")) == "build"
    assert classify_one(rules, ("mywrap",)) == "unknown"


def test_user_rules_fall_back_to_dot_config(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".config" / "pt").mkdir(parents=True)
    (tmp_path / ".config" / "pt" / "categories.json").write_text(json.dumps(
        {"version": 1, "rules": [{"category": "agent", "match": "comm", "regex": "robot$"}]}))
    assert classify_one(load_rules(), ("robot", "--serve")) == "agent"


def test_explicit_path_replaces_the_xdg_file(tmp_path, monkeypatch):
    write_user_rules(tmp_path, monkeypatch, [{"category": "vcs", "match": "argv0", "regex": "make$"}])
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"version": 1, "rules": [GOOD_RULE]}))
    assert classify_one(load_rules(other), ("make",)) == "build"
    assert classify_one(load_rules(), ("make",)) == "vcs"


# --- names and robustness ---------------------------------------------------------

def test_category_names_round_trip():
    codes = np.arange(len(COMMAND_CATEGORIES), dtype=np.int8)
    assert category_names(codes, "command").tolist() == list(COMMAND_CATEGORIES)
    assert category_names(np.arange(len(CWD_CATEGORIES)), "cwd").tolist() == list(CWD_CATEGORIES)
    assert COMMAND_CATEGORIES[-1] == CWD_CATEGORIES[-1] == "unknown"
    with pytest.raises(ValueError, match="which"):
        category_names(codes, "colour")
    with pytest.raises(ValueError, match="codes"):
        category_names(np.array([6]), "cwd")


WORDS = st.sampled_from(["python3", "-m", "-c", "-lc", "sh", "bash", "node", "--", "uv", "run", "npm",
                         "exec", "-jar", "java", "env", "A=1", "timeout", "pytest", "&&", "'", "/x/y",
                         "tmux: server", "", " ", "\x00", "\n", "-", "+o", "--require"])
TEXT = st.text(max_size=12)
ARGV = st.one_of(st.none(), st.tuples(), st.lists(st.one_of(WORDS, TEXT), max_size=8).map(tuple))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.one_of(WORDS, TEXT), ARGV, st.one_of(st.none(), TEXT)), max_size=12))
def test_classify_never_raises_and_matches_the_reference(rules, rows):
    comm = np.array([c for c, _, _ in rows], dtype=object)
    cmdline = np.empty(len(rows), dtype=object)
    cmdline[:] = [a for _, a, _ in rows]
    exe = np.array([e for _, _, e in rows], dtype=object)
    codes = rules.classify(comm, cmdline, exe)
    assert codes.dtype == np.int8 and codes.shape == (len(rows),)
    assert ((codes >= 0) & (codes < len(COMMAND_CATEGORIES))).all()
    assert np.array_equal(codes, classify_naive(rules, comm, cmdline, exe))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_shell_command_never_raises(code):
    assert isinstance(shell_command(code), tuple)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=20), st.sampled_from(["/", "/tmp/x", "/x (deleted)"])),
                max_size=10))
def test_classify_cwd_never_raises(paths):
    cwd = np.empty(len(paths), dtype=object)
    cwd[:] = paths
    codes = classify_cwd(cwd, np.full(len(paths), -1), homes={})
    assert ((codes >= 0) & (codes < len(CWD_CATEGORIES))).all()


def test_the_shipped_rules_pass_every_check_a_user_file_gets():
    """A scan reads the shipped rules without compiling each regex alone (it
    compiles them joined per target): the full checks must hold for them."""
    assert read_shipped(checked=True) == read_shipped()

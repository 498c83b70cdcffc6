"""Category rules files: read and validate the shipped one and the user's.

The shipped ``pt/data/categories.json`` is read from the package (:mod:`pt.data`);
the user's ``$XDG_CONFIG_HOME/pt/categories.json`` (default
``~/.config/pt/categories.json``) has the same format, and its rules and
interpreters are tried before the shipped ones. Every value is checked on
load; a bad one raises :class:`~pt.config_errors.ConfigError` naming the file,
the key path (``rules[12].regex``) and the value.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from pt.config import config_dir, parse_config_json, read_config_text
from pt.config_errors import ConfigError
from pt.data import read_text as shipped_text
from pt.features.argv import Interpreter

#: Command categories, in the order of their codes; ``unknown`` is last.
COMMAND_CATEGORIES = ("test_runner", "dev_server", "agent", "shell", "build", "daemon",
                      "editor_lsp", "database", "server", "vcs", "package_manager", "container",
                      "unknown")
#: What a rule's regex is matched against (see docs/categories.md).
MATCH_TARGETS = ("comm", "argv0", "exe", "cmdline")
VERSION = 1
SHIPPED_NAME = "<pt>/data/categories.json"

_TOP_KEYS = ("version", "doc", "rules", "interpreters")
_RULE_KEYS = ("category", "match", "regex", "priority", "doc")
_INTERPRETER_KEYS = ("argv0", "doc", "subcommands", "options_with_value", "program_options",
                     "code_options", "shell_code", "getopt", "skip_positionals")
#: A backreference or conditional: it would point at the wrong group once the
#: rules of a target are joined into one regex.
_BACKREFERENCE = re.compile(r"(?<!\\)(?:\\\\)*\\[1-9]|\(\?P=|\(\?\(")
#: Global inline flags, which Python allows only at the very start of a regex.
_GLOBAL_FLAGS = re.compile(r"\(\?[aiLmsux]+\)")


@dataclass(frozen=True)
class Rule:
    """One validated rule: ``category`` is a code into :data:`COMMAND_CATEGORIES`,
    ``where`` names the file and key it came from."""

    category: int
    target: str
    regex: str
    priority: int
    where: str


@dataclass(frozen=True)
class RulesDocument:
    """The validated contents of one rules file."""

    rules: tuple[Rule, ...]
    interpreters: tuple[Interpreter, ...]


def user_rules_path() -> Path:
    """``$XDG_CONFIG_HOME/pt/categories.json``, or ``~/.config/pt/categories.json``."""
    return config_dir() / "categories.json"


def read_shipped(*, checked: bool = False) -> RulesDocument:
    """The rules shipped in the package. Their regexes are compiled one by one
    and checked only when ``checked`` (the tests do): a scan compiles them
    once, joined per target (:mod:`pt.features.categories`), which saves it
    ~30 ms."""
    text = shipped_text("categories.json")
    return parse(text, SHIPPED_NAME, check_regexes=checked)


def read_user(path: str | os.PathLike | None = None) -> RulesDocument | None:
    """The user's rules: ``path`` (which must exist), else the XDG file if there is one."""
    file = Path(path) if path is not None else user_rules_path()
    if path is None and not file.exists():
        return None
    return parse(read_config_text(file), str(file))


def parse(text: str, file: str, *, check_regexes: bool = True) -> RulesDocument:
    """Validate the JSON ``text`` of the rules file called ``file`` (the
    rules' regexes too, unless ``check_regexes`` is false: then they are
    only required to be strings)."""
    doc = parse_config_json(text, file)
    _check_object(file, "<document>", doc, _TOP_KEYS)
    version = doc.get("version")
    if version != VERSION or isinstance(version, bool):
        raise ConfigError(file, "version", version, f"unsupported version; this pt reads {VERSION}")
    rules = _list(file, "rules", doc.get("rules", []))
    interpreters = _list(file, "interpreters", doc.get("interpreters", []))
    return RulesDocument(
        tuple(_rule(file, f"rules[{i}]", r, check_regexes) for i, r in enumerate(rules)),
        tuple(_interpreter(file, f"interpreters[{i}]", s) for i, s in enumerate(interpreters)),
    )


def _rule(file: str, key: str, rule, check_regex: bool = True) -> Rule:
    _check_object(file, key, rule, _RULE_KEYS, required=("category", "match", "regex"))
    category = _string(file, f"{key}.category", rule["category"])
    if category not in COMMAND_CATEGORIES:
        raise ConfigError(file, f"{key}.category", category,
                          f"unknown category; expected one of {', '.join(COMMAND_CATEGORIES)}")
    target = _string(file, f"{key}.match", rule["match"])
    if target not in MATCH_TARGETS:
        raise ConfigError(file, f"{key}.match", target,
                          f"unknown match target; expected one of {', '.join(MATCH_TARGETS)}")
    priority = rule.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise ConfigError(file, f"{key}.priority", priority, "must be an integer")
    if not check_regex:
        regex = _string(file, f"{key}.regex", rule["regex"])
        return Rule(COMMAND_CATEGORIES.index(category), target, regex, priority, f"{file}: {key}")
    regex = _regex(file, f"{key}.regex", rule["regex"])
    _check_combinable(file, f"{key}.regex", regex)
    return Rule(COMMAND_CATEGORIES.index(category), target, regex.pattern, priority, f"{file}: {key}")


def _interpreter(file: str, key: str, spec) -> Interpreter:
    _check_object(file, key, spec, _INTERPRETER_KEYS, required=("argv0",))
    skip = spec.get("skip_positionals", 0)
    if not isinstance(skip, int) or isinstance(skip, bool) or skip < 0:
        raise ConfigError(file, f"{key}.skip_positionals", skip, "must be an integer >= 0")
    return Interpreter(
        argv0=_regex(file, f"{key}.argv0", spec["argv0"]),
        subcommands=_words(file, f"{key}.subcommands", spec.get("subcommands", [])),
        options_with_value=_options(file, f"{key}.options_with_value", spec.get("options_with_value", [])),
        program_options=_options(file, f"{key}.program_options", spec.get("program_options", [])),
        code_options=_options(file, f"{key}.code_options", spec.get("code_options", [])),
        shell_code=_bool(file, f"{key}.shell_code", spec.get("shell_code", False)),
        getopt=_bool(file, f"{key}.getopt", spec.get("getopt", False)),
        skip_positionals=skip,
    )


# --- checks, each naming the file, key and value -------------------------------

def _check_object(file, key, value, allowed, required=()) -> None:
    if not isinstance(value, dict):
        raise ConfigError(file, key, value, "must be a JSON object")
    for name in value:
        if name not in allowed:
            where = name if key == "<document>" else f"{key}.{name}"
            raise ConfigError(file, where, value[name], f"unknown key; expected one of {', '.join(allowed)}")
    for name in required:
        if name not in value:
            raise ConfigError(file, key, value, f"missing required key {name!r}")


def _list(file, key, value) -> list:
    if not isinstance(value, list):
        raise ConfigError(file, key, value, "must be a list")
    return value


def _string(file, key, value) -> str:
    if not isinstance(value, str):
        raise ConfigError(file, key, value, "must be a string")
    return value


def _bool(file, key, value) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(file, key, value, "must be true or false")
    return value


def _words(file, key, value) -> frozenset:
    return frozenset(_string(file, f"{key}[{i}]", w) for i, w in enumerate(_list(file, key, value)))


def _options(file, key, value) -> frozenset:
    words = _words(file, key, value)
    for i, word in enumerate(value):
        if len(word) < 2 or word[0] not in "-+":
            raise ConfigError(file, f"{key}[{i}]", word, "an option starts with - or + and has a name")
    return words


def _regex(file, key, value) -> re.Pattern:
    try:
        return re.compile(_string(file, key, value))
    except (re.error, RecursionError, OverflowError) as exc:   # nesting, size: still a bad regex
        raise ConfigError(file, key, value, f"bad regex: {exc}") from None


def _check_combinable(file, key, pattern: re.Pattern) -> None:
    """Rules of one target are joined into one alternation (``(r0)|(r1)|...``):
    refuse what would change meaning there."""
    if pattern.groupindex or _BACKREFERENCE.search(pattern.pattern):
        raise ConfigError(file, key, pattern.pattern,
                          "named groups, backreferences and conditionals are not supported "
                          "(the rules of one target are combined into a single regex)")
    if _GLOBAL_FLAGS.match(pattern.pattern):
        raise ConfigError(file, key, pattern.pattern,
                          "global inline flags cannot be combined with other rules; "
                          "write them scoped, as (?i:...)")

"""``pt mcp``: pt's commands as tools for AI coding agents (MCP over stdio).

Each tool runs the pt command an agent would otherwise shell out to, in this
process, and returns that command's ``--json`` result: the same envelope,
data and error codes, because the command's own parser checks the arguments
and its own code does the work. Tool arguments become ``--option=value``
words (a value can never be read as another option) and positionals follow
``--``. A bad argument, a refused or failed command comes back as a tool
error whose text is the JSON error envelope (``status: "error"``).

Tools run one at a time on the main thread: an agent's ``match`` regex is
bounded by a CPU timer signal (:mod:`pt.bounded_regex`), which only the main
thread receives, and ``apply`` installs signal handlers.

``apply`` needs a one-time code that a person got from ``pt apply --approve
PLAN_ID`` at a terminal (:mod:`pt.act.approval`): an agent can plan, but it
cannot approve its own actions.
"""
from __future__ import annotations

import contextlib
import functools
import inspect
import io
import json
import signal
from typing import Annotated, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from pt.config import ACTIONS, CLASSES

#: The longest deep scan a tool call may ask for.
MAX_DEEP_S = 60.0
#: Rows a scan returns unless the agent asks for more (0 = all).
DEFAULT_TOP = 20

INSTRUCTIONS = """\
pt (Process Triage) finds abandoned, stuck, runaway and zombie processes and
explains each verdict with Bayesian evidence. scan, explain, deep_scan,
history and why only read. plan freezes recommendations into a plan (it acts
on nothing) and returns its id. apply carries a plan out only with the
one-time code a person got by running `pt apply --approve PLAN_ID` at their
terminal: show them the plan text and that command, and ask for the code.
undo reverts a plan's reversible actions (pause, renice, throttle,
quarantine).
"""

Class = Literal[CLASSES]
Action = Literal[ACTIONS[1:]]
Users = Annotated[list[str] | None, Field(description="only processes of these users (names or uids)")]
Match = Annotated[str | None, Field(description="only processes whose command line matches this regex")]
Classes = Annotated[list[Class] | None, Field(description="only processes most probably of these classes")]
Pids = Annotated[list[int] | None, Field(description="only these processes")]
MinAge = Annotated[str | None, Field(description="only processes at least this old, e.g. 30m, 2h")]


class Failed(Exception):
    """A tool's command failed; ``result`` is its JSON error envelope."""

    def __init__(self, result: dict):
        super().__init__(result["errors"][0]["message"] if result.get("errors") else "failed")
        self.result = result


def _error(command: str, code: str, message: str) -> Failed:
    from pt.ui.result import error_envelope
    return Failed(error_envelope(command, code=code, message=message))


def _answer(result: dict, *, error: bool = False) -> CallToolResult:
    """A tool result holding ``result`` as compact JSON text (agents pay per token)."""
    text = json.dumps(result, separators=(",", ":"), allow_nan=False)
    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=error)


def tool(fn):
    """``fn`` as a tool answering with its result object, or on failure with
    exactly the JSON error envelope (the SDK's own errors prefix their text)."""
    @functools.wraps(fn)
    async def call(*args, **kwargs):
        try:
            return _answer(await fn(*args, **kwargs))
        except Failed as exc:
            return _answer(exc.result, error=True)
    return call


def run_pt(argv: list[str]) -> dict:
    """Run ``pt ARGV`` (which must ask for ``--json``) here, its output
    captured, and return its result object; :class:`Failed` with the error
    envelope if it failed. Lines it wrote on stderr (warnings such as
    a telemetry skip) are added as ``notes``."""
    from pt.cli import main
    from pt.exit_codes import USAGE
    from pt.ui.result import error_envelope

    out, err = io.StringIO(), io.StringIO()
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:             # argparse rejected an argument
                code = exc.code if isinstance(exc.code, int) else USAGE
    finally:
        for s, handler in handlers.items():      # pt apply's, for its own run only
            signal.signal(s, handler)
    notes = [line for line in err.getvalue().splitlines() if line.strip() and not line.startswith("usage:")]
    try:
        result = json.loads(out.getvalue())
    except ValueError:                            # a usage error: argparse wrote only to stderr
        result = error_envelope(argv[0], code="usage", message=notes[-1] if notes else f"exit code {code}")
    if result.get("status") == "error":
        raise Failed(result)
    if notes:
        result["notes"] = notes
    return result


def _options(**values) -> list[str]:
    """``--name=value`` words (lists repeat the option; None and False are left out)."""
    words = []
    for name, value in values.items():
        flag = "--" + name.replace("_", "-")
        for v in value if isinstance(value, list) else [value]:
            if v is True:
                words.append(flag)
            elif v is not None and v is not False:
                words.append(f"{flag}={v}")
    return words


def _select(result: dict, match: str | None, classes: list[str] | None, top: int, ledger: bool) -> dict:
    """Keep the scan's rows of ``classes`` whose shown (secret-masked)
    command line ``match``es, then the first ``top`` (``pt scan`` itself
    filters by user only); without ``ledger``, drop each row's ``evidence``
    (four fifths of a row; ``explain`` gives one process's)."""
    from argparse import ArgumentTypeError

    from pt.commands.options import user_regex
    from pt.ui.text import plural
    data = result["data"]
    if match is not None or classes:
        rows = data["processes"]
        if classes:
            rows = [r for r in rows if r.get("class") in classes]
        if match is not None:
            try:
                regex = user_regex(match)
            except ArgumentTypeError as exc:
                raise _error("scan", "usage", f"match: {exc}") from None
            rows = [r for r in rows if regex.search(r.get("command") or "")]
            if regex.gave_up:
                result.setdefault("notes", []).append(
                    f"match gave up on {plural(regex.gave_up, 'command line')} (too slow for the regex), "
                    "not selected; a simpler regex avoids this")
        data["processes"] = rows[:top or None]
        data["summary"] |= {"selected": len(rows), "returned": len(data["processes"]),
                            "filters": {"match": match, "classes": classes or []}}
    if not ledger:
        for row in data["processes"]:
            row.pop("evidence", None)
        data["summary"]["evidence"] = "omitted: call scan with ledger=true, or explain PID"
    return result


async def scan(user: Users = None, match: Match = None, classes: Classes = None,
               top: Annotated[int, Field(ge=0, description="return the first N rows (0: all)")] = DEFAULT_TOP,
               sort: Annotated[str | None, Field(description="sort key as pt scan --sort (default attention)")]
               = None,
               ledger: Annotated[bool, Field(description="include every row's full evidence ledger (large)")]
               = False) -> dict:
    """Triage the machine's processes (reads only). Returns pt scan --json's
    result: per process its class, posterior, recommended action, Bayes
    factors and why, most worth a look first; the full evidence ledger with
    ledger=true (or one process's with explain)."""
    filtered = bool(match is not None or classes)
    result = run_pt(["scan", "--json", *(["--ledger"] if ledger else []),
                     *_options(user=user, sort=sort, top=0 if filtered else top)])
    return _select(result, match, classes, top, ledger)


async def explain(pid: Annotated[int, Field(description="the process to explain")]) -> dict:
    """The full evidence ledger behind one process's verdict (reads only);
    pt explain PID --json."""
    return run_pt(["explain", "--json", "--", str(pid)])


async def plan(pid: Pids = None, match: Match = None, user: Users = None, classes: Classes = None,
               actions: Annotated[list[Action] | None, Field(description="only processes for which pt "
                                                             "recommends these actions")] = None,
               min_age: MinAge = None,
               do: Annotated[Action | None, Field(description="plan this action instead of pt's "
                                                  "recommendation (needs pid or match)")] = None) -> dict:
    """Freeze pt's recommendations for the selected processes into a plan
    (acts on nothing). Returns the plan, its id and its text. To carry it
    out, a person runs `pt apply --approve PLAN_ID` at a terminal and gives
    you the code for apply."""
    result = run_pt(["plan", "--json", *_options(pid=pid, match=match, user=user, min_age=min_age, do=do),
                     *[f"--class={c}" for c in classes or ()], *[f"--action={a}" for a in actions or ()]])
    frozen = result["data"]["plan"]
    result["data"]["text"] = plan_text(frozen)
    if frozen["actions"]:
        result["data"]["approve_with"] = f"pt apply --approve {frozen['plan_id']}"
    return result


def plan_text(frozen: dict) -> str:
    """The plan as ``pt plan`` shows it, as plain text."""
    from pt.ui.plan_view import print_plan
    from pt.ui.text import SafeConsole
    buffer = io.StringIO()
    print_plan(frozen, console=SafeConsole(file=buffer, width=120, color_system=None, force_terminal=False))
    return buffer.getvalue()


async def deep_scan(pid: Pids = None, match: Match = None, user: Users = None, classes: Classes = None,
                    max_time: Annotated[float, Field(gt=0, le=MAX_DEEP_S, description="watch at most this "
                                                     "many seconds")] = 30.0,
                    limit: Annotated[int, Field(ge=1, le=200, description="watch at most N candidates")] = 10
                    ) -> dict:
    """Watch the most uncertain candidates over time (change points,
    wake-ups) until more watching would not change the decision, at most
    max_time seconds (reads only); pt deep-scan --json."""
    return run_pt(["deep-scan", "--json", *_options(pid=pid, match=match, user=user, max_time=max_time,
                                                    limit=limit), *[f"--class={c}" for c in classes or ()]])


async def history(limit: Annotated[int, Field(ge=0, description="the newest N plans (0: all)")] = 20) -> dict:
    """The plans pt made and what was done about them; pt history --json."""
    return run_pt(["history", "--json", *_options(limit=limit)])


async def why(target: Annotated[str, Field(description="a pid, PID:START_TICKS or BOOT_ID:START_TICKS:PID")],
              run: Annotated[str | None, Field(description="that run's decision instead of the latest")] = None
              ) -> dict:
    """The ledger of pt's latest recorded decision about a process, from the
    telemetry lake; pt duck why --json."""
    return run_pt(["duck", "--json", *_options(run=run), "--", "why", target])


async def apply(plan_id: Annotated[str, Field(description="the plan id from plan")],
                code: Annotated[str, Field(description="the one-time code a person got from "
                                                       "`pt apply --approve PLAN_ID` at their terminal")]) -> dict:
    """Carry out a plan a person approved. Needs the code printed by
    `pt apply --approve PLAN_ID` at their terminal; one attempt per code,
    right or wrong. Every target is re-checked before it is signalled."""
    from pt.act.approval import ApprovalError, redeem
    try:
        redeem(plan_id, code)
    except ApprovalError as exc:
        raise _error("apply", "not_approved", str(exc)) from None
    except OSError as exc:
        raise _error("apply", "os_error", f"cannot read pt's approvals: {exc}") from None
    return run_pt(["apply", "--json", "--yes", "--", plan_id])


async def undo(plan_id: Annotated[str, Field(description="the plan id")]) -> dict:
    """Revert a plan's reversible actions (continue a paused process, renice
    back, leave pt's cgroup); pt undo --json."""
    from pt.act.plan import PLAN_ID_RE
    if not PLAN_ID_RE.match(plan_id):
        raise _error("undo", "usage", f"{plan_id!r} is not a plan id (16 hex digits)")
    return run_pt(["undo", "--json", "--", plan_id])


READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)
TOOLS = ((scan, READ_ONLY), (explain, READ_ONLY), (deep_scan, READ_ONLY), (history, READ_ONLY),
         (why, READ_ONLY), (plan, ToolAnnotations(read_only_hint=False, destructive_hint=False)),
         (apply, ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True)),
         (undo, ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True)))


class PtServer(MCPServer):
    """The SDK's server, with the failures it detects itself (an unknown
    tool, arguments that fail the tool's schema, a crash) also answered
    with a JSON error envelope, like the failures of pt's commands."""

    async def call_tool(self, name, arguments, context=None):
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            crashed = isinstance(exc, UnexpectedToolError)
            return _answer(_error(name, "internal_error" if crashed else "bad_request", str(exc)).result, error=True)


def build_server() -> MCPServer:
    """The server with pt's tools."""
    from pt import __version__
    server = PtServer(name="pt", title="Process Triage", instructions=INSTRUCTIONS, version=__version__,
                       log_level="WARNING")
    for fn, hints in TOOLS:
        server.add_tool(tool(fn), name=fn.__name__, description=inspect.cleandoc(fn.__doc__),
                        annotations=hints, structured_output=False)
    return server


def serve() -> None:
    """Serve over stdin/stdout until the client closes them."""
    build_server().run("stdio")

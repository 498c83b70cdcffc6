"""``pt mcp``: serve pt's tools to AI coding agents (Model Context Protocol, stdio)."""
from __future__ import annotations

import argparse

EPILOG = """\
Tools: scan, explain, deep_scan, history, why (read only); plan (freezes a
plan, acts on nothing); apply (only with a one-time code a person got from
`pt apply --approve PLAN_ID` at a terminal: an agent cannot approve its own
actions); undo. Each returns the same JSON object as the command's --json.

Needs the MCP SDK: pip install 'pt[mcp]'. An agent starts the server itself
once it is registered; in an mcpServers JSON block that is
{"pt": {"command": "pt", "args": ["mcp"]}}. See docs/mcp.md.

examples:
  claude mcp add pt -- pt mcp        register pt with Claude Code
  pt apply 3f2a9c0d1e4b5a69 --approve
                                     let the agent apply that plan once: prints a code
"""


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "mcp", help="serve pt's tools to AI agents (MCP over stdio)",
        description="Run an MCP server on stdin/stdout exposing pt's scan, explain, plan, deep scan, "
                    "history, why, apply (human-approved) and undo.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import importlib.util

    from pt.exit_codes import ERROR, OK
    if importlib.util.find_spec("mcp") is None:
        from pt.ui.text import error
        error("mcp", "pt mcp needs the MCP SDK, which is not installed: pip install 'pt[mcp]'")
        return ERROR
    from pt.mcp_server import serve
    serve()
    return OK

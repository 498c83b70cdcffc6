"""One-time approval codes: how a person lets an agent apply one plan.

An agent driving pt (``pt mcp``) may scan, explain and plan, but it must
never approve its own actions. ``pt apply --approve PLAN_ID``, run by a
person at a terminal, shows the plan as it would run now, asks, and prints a
short random code. Only a hash of ``plan id + code`` is kept, with an expiry,
in pt's private state directory (``approvals/PLAN_ID.json``, 0600). The
agent's ``apply`` needs the plan id and that code: the first attempt uses the
approval up whether the code was right or not, so a code cannot be guessed
by trying, and one approval acts once. The plan id is the hash of the
plan's content, so the code approves exactly what the person was shown.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time

from pt import safefs

#: How long a code stays valid (never past the plan's own expiry).
APPROVAL_TTL_S = 600.0
#: Code letters: no 0/O or 1/I/L, so a code read aloud or retyped survives.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 10           # 31^10 ≈ 2^49, and one try per approval
SUBDIR = "approvals"


class ApprovalError(Exception):
    """No usable approval for this plan and code (the message says why and what to do)."""


def normalize(code: str) -> str:
    """The code as typed, without case, spaces or dashes."""
    return "".join(code.split()).replace("-", "").upper()


def _digest(plan_id: str, code: str) -> str:
    return hashlib.sha256(f"{plan_id}:{normalize(code)}".encode()).hexdigest()


def _approvals():
    from pt.act.journal import state_dir
    with safefs.private_dir(state_dir()) as state:
        return state.sub(SUBDIR, create=True)


def grant(plan_id: str, plan_expires_at: float, *, now: float | None = None) -> tuple[str, float]:
    """Make a new code for ``plan_id`` (replacing any earlier one); returns
    ``(code as shown, e.g. ABCDE-FGHJK, expiry in unix seconds)``."""
    now = time.time() if now is None else now
    code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    expires_at = min(now + APPROVAL_TTL_S, plan_expires_at)
    record = {"plan_id": plan_id, "code_sha256": _digest(plan_id, code), "created_at": now,
              "expires_at": expires_at}
    with _approvals() as d:
        d.replace(f"{plan_id}.json", json.dumps(record).encode())
    return f"{code[:5]}-{code[5:]}", expires_at


def redeem(plan_id: str, code: str, *, now: float | None = None) -> None:
    """Use up the approval of ``plan_id`` with ``code``; :class:`ApprovalError`
    unless one exists, is unexpired and ``code`` is its code. Whatever the
    result, that approval is gone afterwards."""
    from pt.act.plan import PLAN_ID_RE
    now = time.time() if now is None else now
    if not PLAN_ID_RE.match(plan_id):
        raise ApprovalError(f"{plan_id!r} is not a plan id (16 hex digits)")
    ask = f"a person must run `pt apply --approve {plan_id}` at a terminal and give you the code it prints"
    name = f"{plan_id}.json"
    with _approvals() as d, d.locked(".lock"):
        try:
            raw = d.read_bytes(name)
        except FileNotFoundError:
            raise ApprovalError(f"plan {plan_id} is not approved: {ask}") from None
        d.unlink(name)                        # one attempt per approval, right or wrong
    try:
        record = json.loads(raw)
        expected, expires_at = str(record["code_sha256"]), float(record["expires_at"])
    except (ValueError, KeyError, TypeError):
        raise ApprovalError(f"the approval of plan {plan_id} was unreadable and is removed: {ask}") from None
    if not hmac.compare_digest(expected, _digest(plan_id, code)):
        raise ApprovalError(f"wrong approval code for plan {plan_id}; the approval is used up: {ask}")
    if now > expires_at:
        raise ApprovalError(f"the approval of plan {plan_id} expired: {ask}")

"""The plans pt made and what was done about them (``pt history``)."""
from __future__ import annotations


def summarize(limit: int):
    """The newest ``limit`` plans (0: all) with the results journalled for
    them, and the journal read (for its skipped-lines note)."""
    from pt.act.journal import Journal, outcomes_by_action
    from pt.act.plan import list_plans

    plans = list_plans()[: limit or None]
    journal = Journal()
    records = journal.records()
    out = []
    for plan in plans:
        mine = [r for r in records if r.get("plan_id") == plan["plan_id"]]
        results: dict[str, int] = {}
        for aid, r in outcomes_by_action(mine).items():
            key = "undone" if aid.endswith(":undo") else r["result"]
            results[key] = results.get(key, 0) + 1
        out.append({"plan_id": plan["plan_id"], "created_at": plan["created_at"],
                    "expires_at": plan["expires_at"], "actions": len(plan["actions"]),
                    "applied": bool(mine), "results": results,
                    "by_action": sorted({a["action"] for a in plan["actions"]})})
    return out, journal

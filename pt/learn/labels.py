"""What the user's choices and words say about a process, as label rows.

Every label is an ``outcomes`` row (``observed_by`` rescan, apply or
feedback). A process may collect several; :data:`ONE_LABEL_SQL` keeps one
per identity: a person's word over a confirmation over what a rescan saw,
the latest within each, and counts the identities whose labels disagree.
"""
from __future__ import annotations

import time

#: What confirming an action says about its target (no entry: nothing).
CONFIRMED = {"kill": "abandoned", "restart": "useful_bad", "renice": "useful_bad",
             "throttle": "useful_bad"}
#: Declining any action is evidence that the process is wanted as it is.
DECLINED = "useful"

#: One label per identity, and whether its labels conflict (DuckDB SQL over ``outcomes``).
ONE_LABEL_SQL = """
    WITH ranked AS (
        SELECT boot_id, pid, start_ticks, label, observed_by, verdict_run_id, ts, result,
               row_number() OVER (PARTITION BY boot_id, pid, start_ticks
                                  ORDER BY CASE observed_by WHEN 'feedback' THEN 0 WHEN 'apply' THEN 1
                                           ELSE 2 END, ts DESC) AS rank,
               count(DISTINCT label) OVER (PARTITION BY boot_id, pid, start_ticks) AS labels
        FROM outcomes WHERE label IN ('useful', 'useful_bad', 'abandoned', 'zombie')
                        AND observed_by IN ('feedback', 'apply', 'rescan'))
    SELECT boot_id, pid, start_ticks, label, observed_by, verdict_run_id, ts, result, labels > 1 AS conflict
    FROM ranked WHERE rank = 1
"""


def apply_labels(plan: dict, confirmed: bool, *, now: float | None = None) -> list[dict]:
    """Label rows for a plan the user confirmed or declined in ``pt apply``."""
    now = time.time() if now is None else now
    rows = []
    for a in plan.get("actions", ()):
        label = CONFIRMED.get(a.get("action")) if confirmed else DECLINED
        target = a.get("target") or {}
        rows.append({"ts": now, "boot_id": target.get("boot_id"), "pid": target.get("pid"),
                     "start_ticks": target.get("start_ticks"), "uid": target.get("uid"),
                     "action": a.get("action"), "result": "confirmed" if confirmed else "declined",
                     "observed_by": "apply", "label": label, "verdict_run_id": None,
                     "after_s": None, "note": None})
    return rows

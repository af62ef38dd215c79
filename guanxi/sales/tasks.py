"""Background jobs of the sales app (Huey): the stale-opportunity alerts (销售过程监控)."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from guanxi.core.context import workspace_context

log = logging.getLogger("guanxi.sales")


def flag_stale_everywhere() -> int:
    """Run ``opportunity_flag_stale`` for every workspace, each inside its own workspace context.

    Walks the workspaces (not tenant data) to enter each one: the per-workspace work is then scoped as usual.
    """
    from guanxi.sales.services import opportunity_flag_stale
    from guanxi.workspaces.models import Workspace

    total = 0
    for ws in Workspace.objects.order_by("pk").iterator():
        with workspace_context(ws):
            try:
                total += len(opportunity_flag_stale())
            except Exception:  # one workspace's failure must not stop the others' alerts
                log.exception("stale-opportunity check failed for workspace %s", ws.pk)
    return total


@db_periodic_task(crontab(minute="20"))
def flag_stale_opportunities() -> int:
    """Hourly: flag open opportunities idle for longer than their pipeline allows, and tell their owners."""
    return flag_stale_everywhere()


import guanxi.sales.tasks_activities  # noqa: E402,F401  (registers the activity reminder jobs)

# registers the quote mail and order import jobs with the consumer
from guanxi.sales import tasks_cash, tasks_import  # noqa: E402,F401

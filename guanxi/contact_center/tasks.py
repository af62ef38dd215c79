"""Background jobs of the routing engine (Huey): route a workspace's waiting contacts after each change, and a
minute-by-minute sweep that times out unanswered offers and widens tasks whose workflow step timed out."""

from __future__ import annotations

import logging

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from guanxi.core.context import workspace_context

log = logging.getLogger("guanxi.contact_center")


def route_now(workspace_id: int) -> int:
    """Expire overdue offers, widen timed-out steps, then offer waiting tasks; in the workspace's context."""
    from guanxi.contact_center import routing
    from guanxi.workspaces.models import Workspace

    ws = Workspace.objects.filter(pk=workspace_id).first()
    if ws is None:
        return 0
    with workspace_context(ws):
        routing.reservations_expire()
        routing.tasks_widen()
        return routing.route_pending()


@db_task(retries=2, retry_delay=1)
def route_workspace(workspace_id: int) -> int:
    return route_now(workspace_id)


@db_periodic_task(crontab(minute="*"))
def routing_sweep() -> int:
    """Every minute, for workspaces with open contacts: the backstop for offers nobody answered."""
    from guanxi.contact_center.models import Task, TaskStatus

    total = 0
    ids = (
        Task.all_workspaces.filter(status__in=[TaskStatus.PENDING, TaskStatus.RESERVED])
        .values_list("workspace_id", flat=True)
        .distinct()
    )
    for ws_id in list(ids):
        try:
            total += route_now(ws_id)
        except Exception:  # one workspace's failure must not stop the others
            log.exception("routing sweep failed for workspace %s", ws_id)
    return total

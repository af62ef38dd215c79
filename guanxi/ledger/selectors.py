"""Reads of the audit trail, narrowed to what the acting member may see."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet

from guanxi.ledger.models import AuditEvent
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module


def audit_event_list(
    *,
    actor: Membership,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    actor_id: int | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> QuerySet[AuditEvent]:
    """Audit events of the current workspace the member may see, filtered.

    Needs view permission on the audit module (else Forbidden). With team scope (managers by default) only events
    by members of the teams they belong to or manage; with own scope only their own events. ``since`` is
    inclusive, ``until`` exclusive. Rows come unordered: the caller orders (index ``audit_ws_time_idx``).
    """
    permissions.require(actor, Module.AUDIT, "view")
    qs = permissions.filter_queryset(
        actor, Module.AUDIT, "view", AuditEvent.objects.all(), owner_field="actor"
    )
    if action:
        qs = qs.filter(action=action)
    if object_type:
        qs = qs.filter(object_type=object_type)
    if object_id:
        qs = qs.filter(object_id=object_id)
    if actor_id is not None:
        qs = qs.filter(actor_id=actor_id)
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    if until is not None:
        qs = qs.filter(created_at__lt=until)
    return qs

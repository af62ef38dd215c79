"""Reads of the telephony app: call records as an actor may see them.

Who sees which calls: a supervisor (workspace-wide view of the contact-centre module) every call of the workspace;
an agent the calls they took; anyone else none (403). ``get_call_for`` gives the same 404 for missing and not
yours."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from guanxi.core.errors import Forbidden, NotFound
from guanxi.telephony.models import Call
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module, Scope


def _visible(actor: Membership) -> QuerySet[Call]:
    scope = permissions.scope_for(actor, Module.CONTACT_CENTER, "view")
    if scope == Scope.NONE:
        raise Forbidden(_("You cannot see call records in this workspace."))
    qs = Call.objects.all()
    if scope != Scope.WORKSPACE:
        qs = qs.filter(agent__user_id=actor.user_id)
    return qs


def call_list(
    *, actor: Membership, q: str = "", disposition: str = "", agent_user_id: int | None = None,
    with_recording: bool = False, queue_id: int | None = None, number: str = "",
    started_from: dt.datetime | None = None, started_before: dt.datetime | None = None,
    customer_id: int | None = None,
) -> QuerySet[Call]:  # fmt: skip
    """The caller's own legs (inbound and click-to-call; agent and callback legs show inside them), newest first
    (keyset on id: index tel_call_ws_id_idx). ``q``: a number fragment of caller or called, or a customer's name;
    ``number``: a whole number (E.164 after normalising), caller or called; ``started_from``/``started_before``: a
    time range on the start."""
    qs = _visible(actor).filter(parent__isnull=True).select_related("agent__user", "queue", "customer")
    q = (q or "").strip()
    if q:
        qs = qs.filter(Q(caller__contains=q) | Q(called__contains=q) | Q(customer__name__contains=q))
    if disposition:
        qs = qs.filter(disposition=disposition)
    if agent_user_id:
        qs = qs.filter(agent__user_id=agent_user_id)
    if with_recording:
        qs = qs.exclude(recording="")
    if queue_id:
        qs = qs.filter(queue_id=queue_id)
    if customer_id:
        qs = qs.filter(customer_id=customer_id)
    if number:
        qs = qs.filter(Q(caller=number) | Q(called=number))
    if started_from is not None:
        qs = qs.filter(started_at__gte=started_from)
    if started_before is not None:
        qs = qs.filter(started_at__lt=started_before)
    return qs


def get_call_for(actor: Membership, call_id: Any) -> Call:
    if not str(call_id).isdigit():
        raise NotFound()
    call = _visible(actor).filter(pk=call_id).select_related("agent__user", "queue", "customer").first()
    if call is None:
        raise NotFound()
    return call


def call_legs(call: Call) -> list[Call]:
    return list(
        Call.objects.filter(Q(parent=call) | Q(parent__parent=call))
        .select_related("agent__user")
        .order_by("id")
    )


def get_call_for_recording(actor: Membership, call_id: Any) -> Call:
    """A call or one of its legs (whose recording is asked for), if the actor may see the call it belongs to."""
    if not str(call_id).isdigit():
        raise NotFound()
    found = Call.objects.filter(pk=call_id).select_related("parent").first()
    if found is None:
        raise NotFound()
    top_id = (found.parent.parent_id or found.parent_id) if found.parent_id else found.pk
    get_call_for(actor, top_id)
    return found


def after_call(qs: QuerySet[Call], before_id: int | None) -> QuerySet[Call]:
    """The calls after call ``before_id`` in (started_at, id) descending order: the keyset of a date-range page."""
    if not before_id:
        return qs
    anchor = Call.objects.filter(pk=before_id).values_list("started_at", flat=True).first()
    if anchor is None:
        return qs.none()
    return qs.filter(started_at__lte=anchor).exclude(started_at=anchor, pk__gte=before_id)

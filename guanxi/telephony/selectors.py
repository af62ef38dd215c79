"""Reads of the telephony app: call records as an actor may see them.

Who sees which calls: a supervisor (workspace-wide view of the contact-centre module) every call of the workspace;
an agent the calls they took; anyone else none (403). ``get_call_for`` gives the same 404 for missing and not
yours."""

from __future__ import annotations

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
    with_recording: bool = False,
) -> QuerySet[Call]:  # fmt: skip
    """The caller's own legs (inbound and click-to-call; agent and callback legs show inside them), newest first
    (keyset on id: index tel_call_ws_id_idx). ``q``: a number fragment of caller or called, or a customer's name."""
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

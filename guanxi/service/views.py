"""Web pages of the service app: the ticket list by queue/status/assignee, a ticket's page with its conversation and
actions, the new-ticket form, attachments, and the public ticket web form (``views_public``)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from guanxi.core.errors import AppError, ValidationFailed
from guanxi.customers.selectors import get_customer_for
from guanxi.service import selectors
from guanxi.service.models import (
    STATUS_FLOW,
    TicketCategory,
    TicketChannel,
    TicketPriority,
    TicketStatus,
    TicketType,
)
from guanxi.service.services import messages as msg_services
from guanxi.service.services import tickets as services
from guanxi.service.webform import ticket_form_token
from guanxi.web.decorators import member_required
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Team
from guanxi.workspaces.permissions import Module
from guanxi.workspaces.selectors import active_member_users

PAGE_SIZE = 50


def _int(value: str) -> int | None:
    return int(value) if value and value.isdigit() else None


def _error_text(exc: AppError) -> str:
    return " ".join(exc.fields.values()) or exc.message


def _recent_alerts(actor: Any) -> list:
    """Crisis alerts of the last two weeks, for the banner on the ticket list."""
    import datetime as dt  # noqa: PLC0415

    from django.utils import timezone  # noqa: PLC0415

    from guanxi.service.selectors_complaints import crisis_alert_list  # noqa: PLC0415

    since = timezone.localdate() - dt.timedelta(days=14)
    return [a for a in crisis_alert_list(actor=actor, limit=5) if a.week_start >= since]


@member_required(Module.SERVICE)
def ticket_list_view(request: HttpRequest) -> HttpResponse:
    """Tickets by queue (team), status and assignee; keyset pages on id (``?before=<id>``)."""
    actor = request.membership
    status = request.GET.get("status", "")
    status = status if status in TicketStatus.values else ""
    mine = request.GET.get("mine") == "1"
    team_id = _int(request.GET.get("team", ""))
    qs = selectors.ticket_list(
        actor=actor,
        status=status or None,
        open_only=not status,
        team_id=team_id,
        assignee_id=actor.user_id if mine else None,
    )
    before = _int(request.GET.get("before", ""))
    if before:
        qs = qs.filter(pk__lt=before)
    rows = list(qs.order_by("-id")[: PAGE_SIZE + 1])
    next_before = rows[PAGE_SIZE - 1].pk if len(rows) > PAGE_SIZE else None
    query = {
        k: v for k, v in (("status", status), ("team", team_id or ""), ("mine", "1" if mine else "")) if v
    }
    return render(
        request,
        "service/ticket_list.html",
        {
            "tickets": rows[:PAGE_SIZE],
            "next_before": next_before,
            "status": status,
            "statuses": TicketStatus.choices,
            "teams": list(Team.objects.order_by("name")),
            "team_id": team_id,
            "mine": mine,
            "query": "&".join(f"{k}={v}" for k, v in query.items()),
            "may_add": permissions.can(actor, Module.SERVICE, "edit"),
            "alerts": _recent_alerts(actor),
            "form_url": request.build_absolute_uri(
                reverse("service_public:ticket_form", args=[ticket_form_token(actor.workspace)])
            ),
        },
    )


@member_required(Module.SERVICE, "edit")
@require_http_methods(["GET", "POST"])
def ticket_create_view(request: HttpRequest) -> HttpResponse:
    actor = request.membership
    customer_id = _int(request.GET.get("customer", "") or request.POST.get("customer_id", ""))
    customer = get_customer_for(actor, customer_id) if customer_id else None
    values: dict[str, Any] = {"priority": TicketPriority.NORMAL, "type": TicketType.TICKET, "channel": "web"}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = {
            k: request.POST.get(k, "").strip()
            for k in ("subject", "description", "priority", "type", "channel", "category_id")
        }
        if customer is None:
            errors = {"customer_id": _("Open the ticket from the customer's page.")}
        else:
            try:
                t = services.ticket_create(
                    actor=actor,
                    customer=customer,
                    subject=values["subject"],
                    description=values["description"],
                    channel=values["channel"] or TicketChannel.WEB,
                    category=values["category_id"] or None,
                    priority=values["priority"],
                    type=values["type"],
                )
            except ValidationFailed as exc:
                errors = exc.fields
            else:
                messages.success(request, _("Ticket #%(id)s opened.") % {"id": t.pk})
                return redirect("service:ticket_detail", t.pk)
    return render(
        request,
        "service/ticket_form.html",
        {
            "customer": customer,
            "values": values,
            "errors": errors,
            "priorities": TicketPriority.choices,
            "types": TicketType.choices,
            "channels": [
                c for c in TicketChannel.choices if c[0] not in ("web_form", "portal", "survey", "api")
            ],
            "categories": list(TicketCategory.objects.filter(is_active=True).select_related("parent")),
        },
        status=422 if errors else 200,
    )


@member_required(Module.SERVICE)
def ticket_detail_view(request: HttpRequest, ticket_id: int) -> HttpResponse:
    actor = request.membership
    t = selectors.get_ticket_for(actor, ticket_id)
    may_edit = permissions.can(actor, Module.SERVICE, "edit", owner_id=t.assignee_id)
    return render(
        request,
        "service/ticket_detail.html",
        {
            "t": t,
            "conversation": list(t.messages.select_related("author").prefetch_related("attachments")),
            "may_edit": may_edit,
            "next_statuses": [(s, TicketStatus(s).label) for s in STATUS_FLOW[t.status]],
            "assignees": [
                u
                for u in active_member_users()
                if permissions.can(actor, Module.SERVICE, "edit", owner_id=u.pk)
            ],
            "priorities": TicketPriority.choices,
            "accept": ",".join(sorted(msg_services.ALLOWED_EXTENSIONS)),
            "max_mb": msg_services.MAX_ATTACHMENT_BYTES // (1024 * 1024),
            "visits": list(t.visits.select_related("technician").order_by("slot_start", "id")),
            "technicians": active_member_users(),
        },
    )


def _back(ticket_id: int) -> HttpResponse:
    return redirect("service:ticket_detail", ticket_id)


@member_required(Module.SERVICE, "edit")
@require_POST
def ticket_message_view(request: HttpRequest, ticket_id: int) -> HttpResponse:
    files = [msg_services.Upload(name=f.name, content=f.read()) for f in request.FILES.getlist("files")[:11]]
    try:
        msg_services.ticket_message_add(
            actor=request.membership,
            ticket=ticket_id,
            kind=request.POST.get("kind", ""),
            body=request.POST.get("body", ""),
            files=files,
        )
    except ValidationFailed as exc:
        messages.error(request, _error_text(exc))
    else:
        sent = request.POST.get("kind") == "reply"
        messages.success(request, _("Reply sent.") if sent else _("Note added."))
    return _back(ticket_id)


@member_required(Module.SERVICE, "edit")
@require_POST
def ticket_status_view(request: HttpRequest, ticket_id: int) -> HttpResponse:
    try:
        services.ticket_set_status(
            actor=request.membership, ticket=ticket_id, status=request.POST.get("status", "")
        )
    except ValidationFailed as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, _("Status changed."))
    return _back(ticket_id)


@member_required(Module.SERVICE, "edit")
@require_POST
def ticket_assign_view(request: HttpRequest, ticket_id: int) -> HttpResponse:
    try:
        services.ticket_assign(
            actor=request.membership, ticket=ticket_id, assignee_id=_int(request.POST.get("assignee_id", ""))
        )
    except ValidationFailed as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, _("Assignee changed."))
    return _back(ticket_id)


@member_required(Module.SERVICE, "edit")
@require_POST
def ticket_priority_view(request: HttpRequest, ticket_id: int) -> HttpResponse:
    try:
        services.ticket_update(
            actor=request.membership, ticket=ticket_id, priority=request.POST.get("priority", "")
        )
    except ValidationFailed as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, _("Changes saved."))
    return _back(ticket_id)


@member_required(Module.SERVICE, "edit")
@require_POST
def ticket_merge_view(request: HttpRequest, ticket_id: int) -> HttpResponse:
    target = _int(request.POST.get("target_id", "").lstrip("#"))
    try:
        if target is None:
            raise ValidationFailed(fields={"target_id": _("Enter the number of the ticket to merge into.")})
        dst = services.ticket_merge(actor=request.membership, source=ticket_id, target=target)
    except ValidationFailed as exc:
        messages.error(request, _error_text(exc))
        return _back(ticket_id)
    messages.success(request, _("Ticket #%(id)s merged into this one.") % {"id": ticket_id})
    return _back(dst.pk)


@member_required(Module.SERVICE, "edit")
@require_POST
def ticket_split_view(request: HttpRequest, ticket_id: int) -> HttpResponse:
    ids = [i for i in (_int(v) for v in request.POST.getlist("message_ids")) if i is not None]
    try:
        new = services.ticket_split(
            actor=request.membership,
            ticket=ticket_id,
            message_ids=ids,
            subject=request.POST.get("subject", ""),
        )
    except ValidationFailed as exc:
        messages.error(request, _error_text(exc))
        return _back(ticket_id)
    messages.success(request, _("Split off as ticket #%(id)s.") % {"id": new.pk})
    return _back(new.pk)


@member_required(Module.SERVICE)
def attachment_view(request: HttpRequest, attachment_id: int) -> HttpResponse:
    att = msg_services.ticket_attachment_for(request.membership, attachment_id)
    response = FileResponse(att.file.open("rb"), as_attachment=True, filename=att.filename)
    response["Content-Type"] = att.content_type
    response["X-Content-Type-Options"] = "nosniff"
    return response

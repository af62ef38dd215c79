"""The customer portal (/f/portal/<token>/): by a signed, expiring link, one customer sees their own tickets and the
replies on them (never internal notes), answers on a ticket, opens a new one, and confirms a complaint's result.
Nothing of another customer is reachable: every read is filtered by the token's customer inside its workspace."""

from __future__ import annotations

import uuid

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from guanxi.core.context import workspace_context
from guanxi.core.errors import ValidationFailed
from guanxi.service import portal, webform
from guanxi.service.models import Complaint, MessageKind, Ticket, TicketChannel, TicketStatus
from guanxi.service.services.complaints import complaint_confirm
from guanxi.service.services.messages import Upload, ticket_customer_message
from guanxi.service.services.tickets import ticket_create

MAX_TICKETS = 100


def _access(token: str) -> tuple[portal.PortalAccess | None, HttpResponse | None]:
    try:
        access = portal.portal_access(token)
    except portal.PortalExpired:
        return None, _gone(expired=True)
    except portal.PortalRevoked:
        return None, _gone(revoked=True)
    if access is None:
        return None, _gone()
    return access, None


def _gone(*, expired: bool = False, revoked: bool = False) -> HttpResponse:
    from django.template.loader import render_to_string  # noqa: PLC0415

    html = render_to_string("service/portal_gone.html", {"expired": expired, "revoked": revoked})
    return HttpResponse(html, status=404)


def _own_ticket(access: portal.PortalAccess, ticket_id: int) -> Ticket | None:
    """The ticket only if it is the token's customer's (missing and another customer's are the same None)."""
    return (
        Ticket.objects.select_related("customer").filter(pk=ticket_id, customer_id=access.customer_id).first()
    )


@require_http_methods(["GET", "POST"])
def portal_home_view(request: HttpRequest, token: str) -> HttpResponse:
    """The customer's tickets, newest first, and the form to open a new one."""
    access, gone = _access(token)
    if gone is not None:
        return gone
    assert access is not None
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    status = 200
    with workspace_context(access.workspace):
        if request.method == "POST":
            values = {k: request.POST.get(k, "").strip() for k in ("subject", "description")}
            if webform.rate_limited(access.workspace, request.META.get("REMOTE_ADDR", "") or "unknown"):
                errors = {"form": _("Too many submissions from your network. Please try again later.")}
                status = 429
            else:
                try:
                    t = ticket_create(
                        actor=None,
                        customer=access.customer_id,
                        subject=values["subject"],
                        description=values["description"],
                        channel=TicketChannel.PORTAL,
                        # per customer: a guessed nonce cannot return another customer's ticket
                        source_ref=f"portal:{access.customer_id}:{request.POST.get('nonce', '')[:64] or uuid.uuid4().hex}",
                    )
                except ValidationFailed as exc:
                    errors, status = exc.fields, 422
                else:
                    return redirect("service_public:portal_ticket", token, t.pk)
        tickets = list(Ticket.objects.filter(customer_id=access.customer_id).order_by("-id")[:MAX_TICKETS])
        from guanxi.customers.models import Customer  # noqa: PLC0415

        customer = Customer.objects.get(pk=access.customer_id)
        return render(
            request,
            "service/portal_home.html",
            {
                "token": token,
                "workspace": access.workspace,
                "customer": customer,
                "tickets": tickets,
                "values": values,
                "errors": errors,
                "nonce": uuid.uuid4().hex,
            },
            status=status,
        )


@require_http_methods(["GET", "POST"])
def portal_ticket_view(request: HttpRequest, token: str, ticket_id: int) -> HttpResponse:
    """One of the customer's tickets: the conversation without internal notes; POST answers on it (with files) or
    confirms a complaint's result."""
    access, gone = _access(token)
    if gone is not None:
        return gone
    assert access is not None
    errors: dict[str, str] = {}
    with workspace_context(access.workspace):
        t = _own_ticket(access, ticket_id)
        if t is None:
            return _gone(expired=False)
        if request.method == "POST":
            try:
                if request.POST.get("action") == "confirm":
                    answer = request.POST.get("satisfied", "")
                    if answer not in ("yes", "no"):
                        raise ValidationFailed(fields={"satisfied": _("Choose whether you are satisfied.")})
                    complaint_confirm(actor=None, ticket=t.pk, satisfied=answer == "yes")
                else:
                    files = [
                        Upload(name=f.name, content=f.read()) for f in request.FILES.getlist("files")[:11]
                    ]
                    ticket_customer_message(ticket=t, body=request.POST.get("body", ""), files=files)
            except ValidationFailed as exc:
                errors = exc.fields
            else:
                return redirect("service_public:portal_ticket", token, t.pk)
            t = _own_ticket(access, ticket_id)
        conversation = list(
            t.messages.exclude(kind=MessageKind.NOTE)
            .prefetch_related("attachments")
            .order_by("created_at", "id")
        )
        complaint = Complaint.objects.filter(ticket=t).first()
        return render(
            request,
            "service/portal_ticket.html",
            {
                "token": token,
                "workspace": access.workspace,
                "t": t,
                "conversation": conversation,
                "errors": errors,
                "closed": t.status == TicketStatus.CLOSED,
                "ask_confirmation": complaint is not None
                and complaint.result_reported_at is not None
                and complaint.customer_confirmed_at is None,
                "complaint": complaint,
            },
            status=422 if errors else 200,
        )

"""Field visit pages (上门服务): schedule from a ticket, the schedule list, one visit with check-in, check-out (result,
parts used, customer's sign-off, signature and photos) and cancel; and the customer portal link for a customer."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from guanxi.core.errors import AppError, NotFound, ValidationFailed
from guanxi.service import portal
from guanxi.service import selectors_visits as selectors
from guanxi.service.models import VisitStatus
from guanxi.service.services import visits as services
from guanxi.service.services.messages import Upload
from guanxi.web.decorators import member_required
from guanxi.workspaces.permissions import Module

MAX_PART_ROWS = 10


def _error_text(exc: AppError) -> str:
    return " ".join(exc.fields.values()) or exc.message


@member_required(Module.SERVICE, "edit")
@require_POST
def visit_schedule_view(request: HttpRequest, ticket_id: int) -> HttpResponse:
    p = request.POST
    try:
        services.visit_schedule(
            actor=request.membership,
            ticket=ticket_id,
            technician_id=p.get("technician_id", ""),
            slot_start=p.get("slot_start", ""),
            slot_end=p.get("slot_end", ""),
            address=p.get("address", ""),
            note=p.get("note", ""),
        )
    except ValidationFailed as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, _("Field visit scheduled."))
    return redirect("service:ticket_detail", ticket_id)


@member_required(Module.SERVICE)
def visit_list_view(request: HttpRequest) -> HttpResponse:
    """Upcoming and current visits (from today), or the day asked for; ``?mine=1``: the member's own."""
    actor = request.membership
    day_text = request.GET.get("day", "")
    try:
        day = dt.date.fromisoformat(day_text) if day_text else None
    except ValueError:
        day = None
    mine = request.GET.get("mine") == "1"
    start = timezone.make_aware(dt.datetime.combine(day or timezone.localdate(), dt.time.min))
    end = start + dt.timedelta(days=1) if day else None
    visits = list(
        selectors.visit_list(
            actor=actor, technician_id=actor.user_id if mine else None, start=start, end=end
        ).exclude(status=VisitStatus.CANCELLED)[:200]
    )
    return render(
        request,
        "service/visit_list.html",
        {"visits": visits, "mine": mine, "day": day.isoformat() if day else ""},
    )


@member_required(Module.SERVICE)
def visit_detail_view(request: HttpRequest, visit_id: int) -> HttpResponse:
    visit = selectors.get_visit_for(request.membership, visit_id)
    return render(
        request,
        "service/visit_detail.html",
        {
            "v": visit,
            "may_work": services.may_work_visit(request.membership, visit, visit.ticket),
            "part_rows": range(MAX_PART_ROWS),
        },
    )


@member_required(Module.SERVICE)
@require_POST
def visit_action_view(request: HttpRequest, visit_id: int) -> HttpResponse:
    actor = request.membership
    visit = selectors.get_visit_for(actor, visit_id)  # 404 before anything else
    action = request.POST.get("action", "")
    try:
        if action == "check_in":
            services.visit_check_in(actor=actor, visit_id=visit.pk)
            messages.success(request, _("Checked in."))
        elif action == "check_out":
            p = request.POST
            parts = [
                {"name": p.get(f"part_name_{i}", ""), "quantity": p.get(f"part_qty_{i}", "")}
                for i in range(MAX_PART_ROWS)
                if p.get(f"part_name_{i}", "").strip() or p.get(f"part_qty_{i}", "").strip()
            ]
            sig = request.FILES.get("signature")
            services.visit_check_out(
                actor=actor,
                visit_id=visit.pk,
                result=p.get("result", ""),
                parts_used=parts,
                signed_by=p.get("signed_by", ""),
                signature=Upload(name=sig.name, content=sig.read()) if sig else None,
                photos=[Upload(name=f.name, content=f.read()) for f in request.FILES.getlist("photos")[:11]],
            )
            messages.success(request, _("Checked out; the visit is done."))
        elif action == "cancel":
            services.visit_cancel(actor=actor, visit_id=visit.pk, reason=request.POST.get("reason", ""))
            messages.success(request, _("Field visit cancelled."))
        else:
            raise NotFound()
    except ValidationFailed as exc:
        messages.error(request, _error_text(exc))
    return redirect("service:visit_detail", visit.pk)


@member_required(Module.SERVICE, "edit")
@require_POST
def portal_link_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    """Make a customer's portal link and show it once (it is not stored; a new one can be made any time)."""
    try:
        link = portal.portal_link_create(
            actor=request.membership,
            customer_id=customer_id,
            days=request.POST.get("days", portal.DEFAULT_DAYS),
        )
    except ValidationFailed as exc:
        messages.error(request, _error_text(exc))
        return redirect("customers:detail", customer_id)
    from guanxi.customers.selectors import get_customer_for  # noqa: PLC0415

    return render(
        request,
        "service/portal_link.html",
        {"link": link, "customer": get_customer_for(request.membership, customer_id)},
    )


@member_required(Module.SERVICE, "edit")
def portal_revoke_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    """GET: ask to confirm; POST: withdraw every portal link of the customer made until now."""
    from guanxi.customers.selectors import get_customer_for  # noqa: PLC0415

    customer = get_customer_for(request.membership, customer_id)
    if request.method == "POST":
        portal.portal_links_revoke(actor=request.membership, customer_id=customer.pk)
        messages.success(
            request, _("The customer's portal links no longer work. A new link can be made any time.")
        )
        return redirect("customers:detail", customer.pk)
    return render(request, "service/portal_revoke.html", {"customer": customer})

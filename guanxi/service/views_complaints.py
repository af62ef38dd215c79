"""Complaint pages (客户投诉): the list with the crisis alerts on top, and one complaint's page (addressed by its
ticket) with the classification, the 5-why root cause, the corrective action, the result reported to the customer
and the customer's confirmation."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from guanxi.core.errors import AppError, NotFound, ValidationFailed
from guanxi.service import selectors_complaints as selectors
from guanxi.service.models import Complaint, ComplaintClass, RootCause, Severity
from guanxi.service.selectors import get_ticket_for
from guanxi.service.services import complaints as services
from guanxi.web.decorators import member_required
from guanxi.workspaces import permissions
from guanxi.workspaces.permissions import Module
from guanxi.workspaces.selectors import active_member_users

PAGE_SIZE = 50
WHYS = 5
_WHY_LINE = re.compile(r"^\s*(\d)[.、)]\s*(.*)$")

STAGE_LABELS = {
    "analysis": gettext_lazy("Find the root cause"),
    "action": gettext_lazy("Take the corrective action"),
    "report": gettext_lazy("Report the result"),
    "confirm": gettext_lazy("Await the customer's confirmation"),
    "done": gettext_lazy("Confirmed by the customer"),
}


def split_whys(text: str) -> list[str]:
    """The five answers of a 5-why analysis stored as numbered lines ("1. …"); other text goes to the first."""
    whys = [""] * WHYS
    loose = []
    for line in (text or "").splitlines():
        m = _WHY_LINE.match(line)
        if m and 1 <= int(m.group(1)) <= WHYS:
            whys[int(m.group(1)) - 1] = m.group(2).strip()
        elif line.strip():
            loose.append(line.strip())
    if loose:
        whys[0] = " ".join([*loose, whys[0]]).strip()
    return whys


def join_whys(whys: list[str]) -> str:
    return "\n".join(f"{i}. {w.strip()}" for i, w in enumerate(whys, start=1) if w.strip())


def _error_text(exc: AppError) -> str:
    return " ".join(exc.fields.values()) or exc.message


@member_required(Module.SERVICE)
def complaint_list_view(request: HttpRequest) -> HttpResponse:
    actor = request.membership
    f = {k: request.GET.get(k, "") for k in ("classification", "severity", "stage")}
    f["classification"] = f["classification"] if f["classification"] in ComplaintClass.values else ""
    f["severity"] = f["severity"] if f["severity"] in Severity.values else ""
    f["stage"] = f["stage"] if f["stage"] in selectors.STAGES else ""
    qs = selectors.complaint_list(actor=actor, **{k: v or None for k, v in f.items()})
    before = request.GET.get("before", "")
    if before.isdigit():
        qs = qs.filter(pk__lt=int(before))
    rows = list(qs.order_by("-id")[: PAGE_SIZE + 1])
    for c in rows:
        c.stage_label = STAGE_LABELS[selectors.complaint_stage(c)]
    query = "&".join(f"{k}={v}" for k, v in f.items() if v)
    analysis = services.complaint_analysis(since=timezone.now() - dt.timedelta(days=90))
    return render(
        request,
        "service/complaint_list.html",
        {
            "complaints": rows[:PAGE_SIZE],
            "next_before": rows[PAGE_SIZE - 1].pk if len(rows) > PAGE_SIZE else None,
            "f": f,
            "query": query,
            "classes": ComplaintClass.choices,
            "severities": Severity.choices,
            "stages": list(STAGE_LABELS.items()),
            "alerts": selectors.crisis_alert_list(actor=actor, limit=5),
            "by_class": [(ComplaintClass(k).label if k else "—", n) for k, n in analysis["classification"]],
            "by_cause": [
                (RootCause(k).label if k else _("Not found yet"), n) for k, n in analysis["root_cause"]
            ],
        },
    )


def _values(c: Complaint | None) -> dict[str, Any]:
    if c is None:
        return {"severity": Severity.MINOR, "whys": [""] * WHYS}
    return {
        "classification": c.classification,
        "severity": c.severity,
        "product": c.product,
        "root_cause": c.root_cause,
        "whys": split_whys(c.root_cause_text),
        "action": c.action,
        "action_owner_id": c.action_owner_id,
        "action_due": c.action_due.isoformat() if c.action_due else "",
    }


@member_required(Module.SERVICE)
@require_http_methods(["GET", "POST"])
def complaint_detail_view(request: HttpRequest, ticket_id: int) -> HttpResponse:
    """GET: the complaint (or, on a ticket without one yet, the form to record it). POST: record or change it."""
    actor = request.membership
    t = get_ticket_for(actor, ticket_id)
    c = Complaint.objects.select_related("action_owner").filter(ticket=t).first()
    may_edit = permissions.can(actor, Module.SERVICE, "edit", owner_id=t.assignee_id)
    values, errors = _values(c), {}
    if request.method == "POST":
        if not may_edit:
            raise NotFound()
        p = request.POST
        values = {
            "classification": p.get("classification", ""),
            "severity": p.get("severity", ""),
            "product": p.get("product", "").strip(),
            "root_cause": p.get("root_cause", ""),
            "whys": [p.get(f"why{i}", "").strip() for i in range(1, WHYS + 1)],
            "action": p.get("action", "").strip(),
            "action_owner_id": p.get("action_owner_id", ""),
            "action_due": p.get("action_due", "").strip(),
        }
        fields: dict[str, Any] = {
            "classification": values["classification"],
            "severity": values["severity"],
            "product": values["product"],
            "root_cause": values["root_cause"],
            "root_cause_text": join_whys(values["whys"]),
            "action": values["action"],
            "action_owner_id": int(values["action_owner_id"])
            if values["action_owner_id"].isdigit()
            else None,
            "action_due": values["action_due"] or None,
        }
        try:
            services.complaint_record(actor=actor, ticket=t.pk, **fields)
        except ValidationFailed as exc:
            errors = exc.fields
        else:
            messages.success(request, _("Complaint saved."))
            return redirect("service:complaint_detail", t.pk)
        values["action_owner_id"] = fields["action_owner_id"]
    stage = selectors.complaint_stage(c) if c else "analysis"
    return render(
        request,
        "service/complaint_detail.html",
        {
            "t": t,
            "c": c,
            "values": values,
            "errors": errors,
            "whys": list(enumerate(values["whys"], start=1)),
            "may_edit": may_edit,
            "stage": stage,
            "stage_label": STAGE_LABELS[stage],
            "classes": ComplaintClass.choices,
            "severities": Severity.choices,
            "causes": RootCause.choices,
            "owners": active_member_users(),
            "alerts": [a for a in selectors.crisis_alert_list(actor=actor) if a.category_id == t.category_id]
            if t.category_id
            else [],
        },
        status=422 if errors else 200,
    )


@member_required(Module.SERVICE, "edit")
@require_POST
def complaint_step_view(request: HttpRequest, ticket_id: int) -> HttpResponse:
    """The steps after the analysis: action done, result reported, customer's confirmation."""
    actor = request.membership
    step = request.POST.get("step", "")
    try:
        if step == "done":
            services.complaint_action_done(actor=actor, ticket=ticket_id)
            messages.success(request, _("Corrective action marked done."))
        elif step == "result":
            services.complaint_report_result(
                actor=actor, ticket=ticket_id, result=request.POST.get("result", "")
            )
            messages.success(request, _("Result sent to the customer."))
        elif step == "confirm":
            answer = request.POST.get("satisfied", "")
            if answer not in ("yes", "no"):
                raise ValidationFailed(fields={"satisfied": _("Choose whether the customer is satisfied.")})
            services.complaint_confirm(actor=actor, ticket=ticket_id, satisfied=answer == "yes")
            messages.success(request, _("Customer's confirmation recorded."))
        else:
            raise NotFound()
    except ValidationFailed as exc:
        messages.error(request, _error_text(exc))
    return redirect("service:complaint_detail", ticket_id)

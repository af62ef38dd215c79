"""Service set-up pages: SLA policies (服务级别协议) and assignment rules (分配规则): list, create, edit with errors
naming the field, and delete after a confirmation page. Changes are for members who may edit all tickets."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from guanxi.core.errors import Forbidden, ValidationFailed
from guanxi.service.models import (
    AssignMethod,
    SlaPolicy,
    TicketCategory,
    TicketChannel,
    TicketPriority,
    TicketRule,
    TicketType,
)
from guanxi.service.services import assignment as rule_services
from guanxi.service.services import calendars as sla_services
from guanxi.web.decorators import member_required
from guanxi.workspaces.models import Team
from guanxi.workspaces.permissions import Module

SLA_FORM_FIELDS = (
    "name", "first_response_minutes", "resolution_minutes", "priority", "category_id", "customer_tier", "warn_share",
)  # fmt: skip
RULE_FORM_FIELDS = (
    "name",
    "position",
    "category_id",
    "channel",
    "priority",
    "type",
    "team_id",
    "skill",
    "method",
)


def _require_admin(request: HttpRequest) -> None:
    if not sla_services.is_service_admin(request.membership):
        raise Forbidden(_("Only members who may edit all tickets can change the service set-up."))


def _choices() -> dict[str, Any]:
    return {
        "priorities": TicketPriority.choices,
        "categories": [
            (c.pk, f"{c.parent} > {c}" if c.parent_id else str(c))
            for c in TicketCategory.objects.filter(is_active=True).select_related("parent")
        ],
        "channels": TicketChannel.choices,
        "types": TicketType.choices,
        "teams": [(t.pk, t.name) for t in Team.objects.order_by("name")],
        "methods": AssignMethod.choices,
    }


# --- SLA policies -----------------------------------------------------------------------------------------------------
@member_required(Module.SERVICE)
def sla_list_view(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "service/sla_list.html",
        {
            "policies": list(SlaPolicy.objects.select_related("category").order_by("name", "id")),
            "may_edit": sla_services.is_service_admin(request.membership),
        },
    )


def _sla_values(p: SlaPolicy | None) -> dict[str, Any]:
    if p is None:
        return {"warn_share": "0.80", "is_active": True}
    return {
        "name": p.name,
        "first_response_minutes": p.first_response_minutes,
        "resolution_minutes": p.resolution_minutes,
        "priority": p.priority,
        "category_id": p.category_id,
        "customer_tier": p.customer_tier,
        "warn_share": p.warn_share,
        "is_active": p.is_active,
    }


@member_required(Module.SERVICE, "edit")
@require_http_methods(["GET", "POST"])
def sla_form_view(request: HttpRequest, policy_id: int | None = None) -> HttpResponse:
    """New policy (no id) or edit one."""
    policy = sla_services.sla_policy_get(policy_id) if policy_id is not None else None
    _require_admin(request)
    values, errors = _sla_values(policy), {}
    if request.method == "POST":
        values = {k: request.POST.get(k, "").strip() for k in SLA_FORM_FIELDS}
        values["is_active"] = request.POST.get("is_active") == "on"
        if values["category_id"].isdigit():
            values["category_id"] = int(values["category_id"])
        try:
            if policy is None:
                policy = sla_services.sla_policy_create(actor=request.membership, **values)
            else:
                sla_services.sla_policy_update(actor=request.membership, policy_id=policy.pk, **values)
        except ValidationFailed as exc:
            errors = exc.fields
        else:
            messages.success(request, _("SLA policy “%(name)s” saved.") % {"name": values["name"]})
            return redirect("service:sla_list")
    return render(
        request,
        "service/sla_form.html",
        {"policy": policy, "values": values, "errors": errors, **_choices()},
        status=422 if errors else 200,
    )


@member_required(Module.SERVICE, "edit")
@require_http_methods(["GET", "POST"])
def sla_delete_view(request: HttpRequest, policy_id: int) -> HttpResponse:
    policy = sla_services.sla_policy_get(policy_id)
    _require_admin(request)
    if request.method == "POST":
        sla_services.sla_policy_delete(actor=request.membership, policy_id=policy.pk)
        messages.success(request, _("SLA policy “%(name)s” deleted.") % {"name": policy.name})
        return redirect("service:sla_list")
    return render(
        request,
        "web/confirm.html",
        {
            "title": _("Delete the SLA policy “%(name)s”?") % {"name": policy.name},
            "body": _(
                "New tickets will no longer get its targets. Tickets that use it keep the deadlines already "
                "computed but are no longer watched for warnings and breaches under it."
            ),
            "confirm_label": _("Delete policy"),
            "cancel_url": reverse("service:sla_list"),
        },
    )


# --- assignment rules -------------------------------------------------------------------------------------------------
@member_required(Module.SERVICE)
def rule_list_view(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "service/rule_list.html",
        {
            "rules": list(TicketRule.objects.select_related("category", "team").order_by("position", "id")),
            "may_edit": sla_services.is_service_admin(request.membership),
        },
    )


def _rule_values(r: TicketRule | None) -> dict[str, Any]:
    if r is None:
        return {"method": AssignMethod.ROUND_ROBIN, "position": 0, "is_active": True}
    return {k: getattr(r, k) for k in (*RULE_FORM_FIELDS, "is_active")}


@member_required(Module.SERVICE, "edit")
@require_http_methods(["GET", "POST"])
def rule_form_view(request: HttpRequest, ticket_rule_id: int | None = None) -> HttpResponse:
    """New rule (no id) or edit one."""
    rule = rule_services.ticket_rule_get(ticket_rule_id) if ticket_rule_id is not None else None
    _require_admin(request)
    values, errors = _rule_values(rule), {}
    if request.method == "POST":
        values = {k: request.POST.get(k, "").strip() for k in RULE_FORM_FIELDS}
        values["is_active"] = request.POST.get("is_active") == "on"
        for k in ("category_id", "team_id"):
            if values[k].isdigit():
                values[k] = int(values[k])
        try:
            if rule is None:
                rule = rule_services.ticket_rule_create(actor=request.membership, **values)
            else:
                rule_services.ticket_rule_update(actor=request.membership, rule_id=rule.pk, **values)
        except ValidationFailed as exc:
            errors = exc.fields
        else:
            messages.success(request, _("Assignment rule “%(name)s” saved.") % {"name": values["name"]})
            return redirect("service:rule_list")
    return render(
        request,
        "service/rule_form.html",
        {"rule": rule, "values": values, "errors": errors, **_choices()},
        status=422 if errors else 200,
    )


@member_required(Module.SERVICE, "edit")
@require_http_methods(["GET", "POST"])
def rule_delete_view(request: HttpRequest, ticket_rule_id: int) -> HttpResponse:
    rule = rule_services.ticket_rule_get(ticket_rule_id)
    _require_admin(request)
    if request.method == "POST":
        rule_services.ticket_rule_delete(actor=request.membership, rule_id=rule.pk)
        messages.success(request, _("Assignment rule “%(name)s” deleted.") % {"name": rule.name})
        return redirect("service:rule_list")
    return render(
        request,
        "web/confirm.html",
        {
            "title": _("Delete the assignment rule “%(name)s”?") % {"name": rule.name},
            "body": _(
                "New tickets will no longer be routed by it. Tickets already assigned keep their assignee."
            ),
            "confirm_label": _("Delete rule"),
            "cancel_url": reverse("service:rule_list"),
        },
    )

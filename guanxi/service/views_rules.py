"""Service set-up pages: SLA policies (服务级别协议) and assignment rules (分配规则): list, create, edit with errors
naming the field, and delete after a confirmation page. Changes are for members who may edit all tickets."""

from __future__ import annotations

from collections.abc import Callable
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
    return _edit_form(
        request,
        obj=policy,
        initial=_sla_values(policy),
        fields=SLA_FORM_FIELDS,
        id_fields=("category_id",),
        create=sla_services.sla_policy_create,
        update=lambda **v: sla_services.sla_policy_update(policy_id=policy.pk, **v),
        saved=_("SLA policy “%(name)s” saved."),
        list_url="service:sla_list",
        template="service/sla_form.html",
        context_name="policy",
    )


@member_required(Module.SERVICE, "edit")
@require_http_methods(["GET", "POST"])
def sla_delete_view(request: HttpRequest, policy_id: int) -> HttpResponse:
    policy = sla_services.sla_policy_get(policy_id)
    _require_admin(request)
    return _confirm_delete(
        request,
        delete=lambda: sla_services.sla_policy_delete(actor=request.membership, policy_id=policy.pk),
        deleted=_("SLA policy “%(name)s” deleted.") % {"name": policy.name},
        list_url="service:sla_list",
        title=_("Delete the SLA policy “%(name)s”?") % {"name": policy.name},
        body=_(
            "New tickets will no longer get its targets. Tickets that use it keep the deadlines already "
            "computed but are no longer watched for warnings and breaches under it."
        ),
        confirm_label=_("Delete policy"),
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
    return _edit_form(
        request,
        obj=rule,
        initial=_rule_values(rule),
        fields=RULE_FORM_FIELDS,
        id_fields=("category_id", "team_id"),
        create=rule_services.ticket_rule_create,
        update=lambda **v: rule_services.ticket_rule_update(rule_id=rule.pk, **v),
        saved=_("Assignment rule “%(name)s” saved."),
        list_url="service:rule_list",
        template="service/rule_form.html",
        context_name="rule",
    )


@member_required(Module.SERVICE, "edit")
@require_http_methods(["GET", "POST"])
def rule_delete_view(request: HttpRequest, ticket_rule_id: int) -> HttpResponse:
    rule = rule_services.ticket_rule_get(ticket_rule_id)
    _require_admin(request)
    return _confirm_delete(
        request,
        delete=lambda: rule_services.ticket_rule_delete(actor=request.membership, rule_id=rule.pk),
        deleted=_("Assignment rule “%(name)s” deleted.") % {"name": rule.name},
        list_url="service:rule_list",
        title=_("Delete the assignment rule “%(name)s”?") % {"name": rule.name},
        body=_("New tickets will no longer be routed by it. Tickets already assigned keep their assignee."),
        confirm_label=_("Delete rule"),
    )


# --- the two shapes every setup page here has ------------------------------------------------------------------------
def _edit_form(
    request: HttpRequest,
    *,
    obj: Any,
    initial: dict[str, Any],
    fields: tuple[str, ...] | list[str],
    id_fields: tuple[str, ...],
    create: Callable[..., Any],
    update: Callable[..., Any],
    saved: str,
    list_url: str,
    template: str,
    context_name: str,
) -> HttpResponse:
    """A create-or-edit form: GET shows ``initial``; POST reads ``fields`` (plus the ``is_active`` checkbox, with
    ``id_fields`` as ints when numeric), calls ``create`` (no ``obj``) or ``update`` with the actor, and goes back to
    the list; a refusal shows the form again with each field's error (422)."""
    values, errors = initial, {}
    if request.method == "POST":
        values = {k: request.POST.get(k, "").strip() for k in fields}
        values["is_active"] = request.POST.get("is_active") == "on"
        for k in id_fields:
            if values[k].isdigit():
                values[k] = int(values[k])
        try:
            (create if obj is None else update)(actor=request.membership, **values)
        except ValidationFailed as exc:
            errors = exc.fields
        else:
            messages.success(request, saved % {"name": values["name"]})
            return redirect(list_url)
    return render(
        request,
        template,
        {context_name: obj, "values": values, "errors": errors, **_choices()},
        status=422 if errors else 200,
    )


def _confirm_delete(
    request: HttpRequest,
    *,
    delete: Callable[[], Any],
    deleted: str,
    list_url: str,
    title: str,
    body: str,
    confirm_label: str,
) -> HttpResponse:
    """GET: the confirmation page (web/confirm.html); POST: ``delete()``, then back to the list."""
    if request.method == "POST":
        delete()
        messages.success(request, deleted)
        return redirect(list_url)
    return render(
        request,
        "web/confirm.html",
        {"title": title, "body": body, "confirm_label": confirm_label, "cancel_url": reverse(list_url)},
    )

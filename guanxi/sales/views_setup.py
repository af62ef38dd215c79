"""Sales set-up pages (sales admins): pipelines and stages, territories, assignment rules, lead-capture forms."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from guanxi.core.errors import AppError, ValidationFailed
from guanxi.sales import selectors, services
from guanxi.sales.models import GATE_FIELDS, RuleApplies, RuleCriterion, RuleDistribution, StageKind
from guanxi.sales.services._common import require_sales_admin
from guanxi.web.decorators import member_required
from guanxi.workspaces.permissions import Module
from guanxi.workspaces.selectors import active_member_users


def _admin(request: HttpRequest) -> None:
    require_sales_admin(request.membership)


def _ids(request: HttpRequest, name: str) -> list[str]:
    return [v for v in request.POST.getlist(name) if v]


# --- pipelines ------------------------------------------------------------------------------------------------------


@member_required(Module.SALES, "edit")
@require_http_methods(["GET", "POST"])
def pipeline_setup(request: HttpRequest) -> HttpResponse:
    _admin(request)
    errors: dict[str, str] = {}
    values = {"name": "", "stale_days": "14", "currency": "CNY"}
    if request.method == "POST":
        values = {k: request.POST.get(k, "").strip() for k in values}
        try:
            p = services.pipeline_create(
                actor=request.membership,
                name=values["name"],
                currency=values["currency"] or "CNY",
                stale_days=values["stale_days"] or 14,
            )
        except ValidationFailed as exc:
            errors = exc.fields
        else:
            messages.success(
                request, _("Pipeline %(name)s created with the standard stages.") % {"name": p.name}
            )
            return redirect("sales:pipeline_edit", p.pk)
    return render(
        request,
        "sales/setup_pipelines.html",
        {"pipelines": selectors.pipeline_list(), "values": values, "errors": errors},
        status=422 if errors else 200,
    )


@member_required(Module.SALES, "edit")
@require_http_methods(["GET", "POST"])
def pipeline_edit(request: HttpRequest, pipeline_id: int) -> HttpResponse:
    _admin(request)
    pipeline = selectors.get_pipeline_for(request.membership, pipeline_id)
    errors: dict[str, str] = {}
    error_stage = None
    if request.method == "POST":
        action = request.POST.get("action", "")
        try:
            if action == "pipeline":
                services.pipeline_update(
                    actor=request.membership,
                    pipeline_id=pipeline.pk,
                    name=request.POST.get("name", ""),
                    stale_days=request.POST.get("stale_days", ""),
                    is_default=request.POST.get("is_default") == "on" or pipeline.is_default,
                )
            elif action in ("stage_add", "stage_update"):
                fields: dict[str, Any] = {
                    "name": request.POST.get("name", ""),
                    "probability": request.POST.get("probability", ""),
                    "kind": request.POST.get("kind", StageKind.OPEN),
                    "required_fields": request.POST.getlist("required_fields"),
                    "position": request.POST.get("position", "") or 0,
                }
                if action == "stage_add":
                    services.stage_create(actor=request.membership, pipeline_id=pipeline.pk, **fields)
                else:
                    error_stage = request.POST.get("stage_id", "")
                    stage = selectors.get_stage(error_stage, pipeline=pipeline)
                    services.stage_update(actor=request.membership, stage_id=stage.pk, **fields)
            elif action == "stage_delete":
                stage = selectors.get_stage(request.POST.get("stage_id", ""), pipeline=pipeline)
                services.stage_delete(actor=request.membership, stage_id=stage.pk)
        except AppError as exc:
            if exc.status == 404:
                raise
            errors = exc.fields or {"name": exc.message}
        else:
            messages.success(request, _("Changes saved."))
            return redirect("sales:pipeline_edit", pipeline.pk)
        pipeline.refresh_from_db()
    return render(
        request,
        "sales/setup_pipeline_edit.html",
        {
            "pipeline": pipeline,
            "stages": selectors.stage_list(pipeline),
            "kinds": StageKind.choices,
            "gate_fields": GATE_FIELDS,
            "gate_labels": services.gate_field_labels(),
            "errors": errors,
            "error_stage": error_stage,
        },
        status=422 if errors else 200,
    )


# --- territories ----------------------------------------------------------------------------------------------------


def _territory_values(request: HttpRequest) -> dict[str, Any]:
    return {
        "name": request.POST.get("name", ""),
        "provinces": request.POST.get("provinces", ""),
        "cities": request.POST.get("cities", ""),
        "manager_id": request.POST.get("manager_id") or None,
        "member_ids": _ids(request, "member_ids"),
    }


@member_required(Module.SALES, "edit")
@require_http_methods(["GET", "POST"])
def territory_setup(request: HttpRequest) -> HttpResponse:
    _admin(request)
    errors: dict[str, str] = {}
    values: dict[str, Any] = {"member_ids": []}
    if request.method == "POST":
        values = _territory_values(request)
        try:
            services.territory_create(actor=request.membership, **values)
        except ValidationFailed as exc:
            errors = exc.fields
        else:
            messages.success(request, _("Territory %(name)s created.") % {"name": values["name"].strip()})
            return redirect("sales:territory_setup")
    return render(
        request,
        "sales/setup_territories.html",
        {
            "territories": selectors.territory_list(),
            "values": values,
            "errors": errors,
            "users": active_member_users(),
            "territory": None,
        },
        status=422 if errors else 200,
    )


@member_required(Module.SALES, "edit")
@require_http_methods(["GET", "POST"])
def territory_edit(request: HttpRequest, territory_id: int) -> HttpResponse:
    _admin(request)
    territory = selectors.get_territory(territory_id)
    errors: dict[str, str] = {}
    values: dict[str, Any] = {
        "name": territory.name,
        "provinces": "、".join(territory.provinces),
        "cities": "、".join(territory.cities),
        "manager_id": territory.manager_id,
        "member_ids": [str(m.user_id) for m in territory.members.all()],
    }
    if request.method == "POST":
        if request.POST.get("action") == "delete":
            services.territory_delete(actor=request.membership, territory_id=territory.pk)
            messages.success(request, _("Territory deleted."))
            return redirect("sales:territory_setup")
        values = _territory_values(request)
        try:
            services.territory_update(actor=request.membership, territory_id=territory.pk, **values)
        except ValidationFailed as exc:
            errors = exc.fields
        else:
            messages.success(request, _("Changes saved."))
            return redirect("sales:territory_setup")
    return render(
        request,
        "sales/setup_territory_edit.html",
        {"territory": territory, "values": values, "errors": errors, "users": active_member_users()},
        status=422 if errors else 200,
    )


# --- rules ----------------------------------------------------------------------------------------------------------


def _rule_values(request: HttpRequest) -> dict[str, Any]:
    return {
        "name": request.POST.get("name", ""),
        "position": request.POST.get("position", "") or 0,
        "is_active": request.POST.get("is_active") == "on",
        "applies_to": request.POST.get("applies_to", ""),
        "criterion": request.POST.get("criterion", ""),
        "territory_id": request.POST.get("territory_id") or None,
        "industry": request.POST.get("industry", ""),
        "distribution": request.POST.get("distribution", ""),
        "member_ids": _ids(request, "member_ids"),
    }


def _rule_context(values: dict, errors: dict, rule: Any) -> dict[str, Any]:
    return {
        "values": values,
        "errors": errors,
        "rule": rule,
        "rules": selectors.rule_list(),
        "territories": selectors.territory_list(),
        "users": active_member_users(),
        "applies": RuleApplies.choices,
        "criteria": RuleCriterion.choices,
        "distributions": RuleDistribution.choices,
    }


@member_required(Module.SALES, "edit")
@require_http_methods(["GET", "POST"])
def rule_setup(request: HttpRequest) -> HttpResponse:
    _admin(request)
    errors: dict[str, str] = {}
    values: dict[str, Any] = {"is_active": True, "member_ids": [], "applies_to": "both", "criterion": "any"}
    if request.method == "POST":
        values = _rule_values(request)
        try:
            data = {k: v for k, v in values.items() if k != "name"}
            services.rule_create(actor=request.membership, name=values["name"], **data)
        except ValidationFailed as exc:
            errors = exc.fields
        else:
            messages.success(request, _("Assignment rule created."))
            return redirect("sales:rule_setup")
    return render(
        request, "sales/setup_rules.html", _rule_context(values, errors, None), status=422 if errors else 200
    )


@member_required(Module.SALES, "edit")
@require_http_methods(["GET", "POST"])
def rule_edit(request: HttpRequest, rule_id: int) -> HttpResponse:
    _admin(request)
    rule = selectors.get_rule(rule_id)
    errors: dict[str, str] = {}
    values: dict[str, Any] = {
        "name": rule.name,
        "position": rule.position,
        "is_active": rule.is_active,
        "applies_to": rule.applies_to,
        "criterion": rule.criterion,
        "territory_id": rule.territory_id,
        "industry": rule.industry,
        "distribution": rule.distribution,
        "member_ids": [str(m.user_id) for m in rule.members.all()],
    }
    if request.method == "POST":
        if request.POST.get("action") == "delete":
            services.rule_delete(actor=request.membership, rule_id=rule.pk)
            messages.success(request, _("Assignment rule deleted."))
            return redirect("sales:rule_setup")
        values = _rule_values(request)
        try:
            services.rule_update(actor=request.membership, rule_id=rule.pk, **values)
        except ValidationFailed as exc:
            errors = exc.fields
        else:
            messages.success(request, _("Changes saved."))
            return redirect("sales:rule_setup")
    return render(
        request,
        "sales/setup_rule_edit.html",
        _rule_context(values, errors, rule),
        status=422 if errors else 200,
    )


# --- lead-capture forms ---------------------------------------------------------------------------------------------


@member_required(Module.SALES, "edit")
@require_http_methods(["GET", "POST"])
def form_setup(request: HttpRequest) -> HttpResponse:
    _admin(request)
    errors: dict[str, str] = {}
    values: dict[str, Any] = {"name": "", "allowed_origins": ""}
    if request.method == "POST":
        values = {k: request.POST.get(k, "") for k in ("name", "allowed_origins", "thank_you")}
        try:
            form = services.lead_form_create(actor=request.membership, **values)
        except ValidationFailed as exc:
            errors = exc.fields
        else:
            messages.success(request, _("Web form created: copy the snippet onto your site."))
            return redirect("sales:form_detail", form.pk)
    return render(
        request,
        "sales/setup_forms.html",
        {"forms": selectors.lead_form_list(), "values": values, "errors": errors},
        status=422 if errors else 200,
    )


@member_required(Module.SALES, "edit")
@require_http_methods(["GET", "POST"])
def form_detail(request: HttpRequest, form_id: int) -> HttpResponse:
    _admin(request)
    form = selectors.get_lead_form(form_id)
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            services.lead_form_update(
                actor=request.membership,
                form_id=form.pk,
                name=request.POST.get("name", ""),
                allowed_origins=request.POST.get("allowed_origins", ""),
                thank_you=request.POST.get("thank_you", ""),
                is_active=request.POST.get("is_active") == "on",
                rotate_token=request.POST.get("rotate_token") == "on",
            )
        except ValidationFailed as exc:
            errors = exc.fields
        else:
            messages.success(request, _("Changes saved."))
            return redirect("sales:form_detail", form.pk)
    url = settings.GUANXI_BASE_URL.rstrip("/") + reverse("sales_public:lead_form", args=[form.token])
    return render(
        request,
        "sales/setup_form_detail.html",
        {"form": form, "public_url": url, "errors": errors, "origins": "\n".join(form.allowed_origins)},
        status=422 if errors else 200,
    )

"""Web pages of the sales app: kanban board, opportunity list/detail/forms, leads and their conversion.

Set-up pages (pipelines, territories, rules, web forms) live in ``views_setup``; the public lead-capture form
in ``views_public``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from guanxi.core.errors import AppError, Conflict, ValidationFailed
from guanxi.customers.models import Customer
from guanxi.customers.selectors import customer_list, get_customer_for
from guanxi.sales import selectors, services
from guanxi.sales.models import GATE_FIELDS, LeadSource, LeadStatus, OpportunityStatus, Pipeline
from guanxi.sales.services._common import is_sales_admin
from guanxi.web.decorators import member_required
from guanxi.workspaces import permissions
from guanxi.workspaces.permissions import Module
from guanxi.workspaces.selectors import active_member_users

PAGE_SIZE = 50


def _owners(request: HttpRequest) -> list[Any]:
    """Members the actor may give a sales record to (a sales rep: only themselves)."""
    return [
        u
        for u in active_member_users()
        if permissions.can(request.membership, Module.SALES, "edit", owner_id=u.pk)
    ]


def _after(request: HttpRequest) -> int | None:
    after = request.GET.get("after", "")
    return int(after) if after.isdigit() else None


# --- board ---------------------------------------------------------------------------------------------------------


@member_required(Module.SALES)
def sales_home(request: HttpRequest) -> HttpResponse:
    pipeline = Pipeline.objects.filter(is_active=True).order_by("-is_default", "position", "id").first()
    if pipeline is not None:
        return redirect("sales:board", pipeline.pk)
    return render(request, "sales/board_empty.html", {"may_setup": is_sales_admin(request.membership)})


@member_required(Module.SALES)
def board_view(request: HttpRequest, pipeline_id: int) -> HttpResponse:
    actor = request.membership
    pipeline = selectors.get_pipeline_for(actor, pipeline_id)
    board = selectors.board_for(actor=actor, pipeline=pipeline)
    return render(
        request,
        "sales/board.html",
        {
            "board": board,
            "pipeline": pipeline,
            "pipelines": list(Pipeline.objects.filter(is_active=True).order_by("position", "id")),
            "stages": [c.stage for c in board.columns],
            "may_edit": permissions.can(actor, Module.SALES, "edit"),
            "gate_labels": services.gate_field_labels(),
        },
    )


@member_required(Module.SALES)
def column_more_view(request: HttpRequest, pipeline_id: int, stage_id: int) -> HttpResponse:
    actor = request.membership
    pipeline = selectors.get_pipeline_for(actor, pipeline_id)
    stage = selectors.get_stage(stage_id, pipeline=pipeline)
    cards, next_after = selectors.column_cards(
        actor=actor, pipeline=pipeline, stage=stage, after=_after(request)
    )
    return render(
        request,
        "sales/_cards.html",
        {
            "cards": cards,
            "next_after": next_after,
            "pipeline": pipeline,
            "stage": stage,
            "stages": selectors.stage_list(pipeline),
            "may_edit": permissions.can(actor, Module.SALES, "edit"),
        },
    )


# --- opportunities --------------------------------------------------------------------------------------------------


@member_required(Module.SALES)
def opportunity_list_view(request: HttpRequest) -> HttpResponse:
    actor = request.membership
    qs = selectors.opportunity_list(actor=actor)
    filters = {
        "pipeline": request.GET.get("pipeline", ""),
        "status": request.GET.get("status", ""),
        "owner": request.GET.get("owner", ""),
        "stale": request.GET.get("stale", ""),
    }
    if filters["pipeline"].isdigit():
        qs = qs.filter(pipeline_id=int(filters["pipeline"]))
    if filters["status"] in OpportunityStatus.values:
        qs = qs.filter(status=filters["status"])
    if filters["owner"].isdigit():
        qs = qs.filter(owner_id=int(filters["owner"]))
    if filters["stale"] == "1":
        qs = qs.filter(stale_since__isnull=False, status=OpportunityStatus.OPEN)
    count, totals = selectors.opportunity_totals(qs)
    qs = qs.order_by("-created_at", "-id")
    after = _after(request)
    if after:
        pivot = qs.filter(pk=after).values_list("created_at", flat=True).first()
        if pivot is not None:
            qs = qs.filter(Q(created_at__lt=pivot) | Q(created_at=pivot, id__lt=after))
    rows = list(qs[: PAGE_SIZE + 1])
    next_after = rows[PAGE_SIZE - 1].pk if len(rows) > PAGE_SIZE else None
    query = "&".join(f"{k}={v}" for k, v in filters.items() if v)
    return render(
        request,
        "sales/opportunity_list.html",
        {
            "opportunities": rows[:PAGE_SIZE],
            "next_after": next_after,
            "count": count,
            "totals": totals,
            "filters": filters,
            "query": query,
            "pipelines": list(Pipeline.objects.filter(is_active=True).order_by("position", "id")),
            "statuses": OpportunityStatus.choices,
            "owners": active_member_users(),
            "may_add": permissions.can(actor, Module.SALES, "edit"),
        },
    )


OPP_FIELDS = ("name", "amount", "currency", "expected_close_date", "competitors", "next_step")


def _opp_values(request: HttpRequest) -> dict[str, Any]:
    values: dict[str, Any] = {k: request.POST.get(k, "").strip() for k in OPP_FIELDS}
    owner = request.POST.get("owner_id", "")
    values["owner_id"] = owner if owner else None
    return values


@member_required(Module.SALES, "edit")
@require_http_methods(["GET", "POST"])
def opportunity_create_view(request: HttpRequest) -> HttpResponse:
    actor = request.membership
    errors: dict[str, str] = {}
    values: dict[str, Any] = {"currency": "CNY", "customer_id": request.GET.get("customer", "")}
    customer = None
    if str(values["customer_id"]).isdigit():
        customer = customer_list(actor=actor).filter(pk=int(values["customer_id"])).first()
    if request.method == "POST":
        values = {**_opp_values(request), "customer_id": request.POST.get("customer_id", "")}
        pipeline_id = request.POST.get("pipeline_id", "")
        try:
            opp = services.opportunity_create(
                actor=actor,
                customer_id=values.pop("customer_id"),
                name=values.pop("name"),
                pipeline_id=int(pipeline_id) if pipeline_id.isdigit() else None,
                **{k: v for k, v in values.items() if v not in ("", None) or k == "amount"},
            )
        except ValidationFailed as exc:
            errors = exc.fields or {"name": exc.message}
            values = {**_opp_values(request), "customer_id": request.POST.get("customer_id", "")}
        else:
            messages.success(request, _("Opportunity %(name)s added.") % {"name": opp.name})
            return redirect("sales:opportunity_detail", opp.pk)
    return render(
        request,
        "sales/opportunity_form.html",
        {
            "values": values,
            "errors": errors,
            "opportunity": None,
            "customer": customer,
            "customers": list(
                customer_list(actor=actor).filter(merged_into__isnull=True).order_by("name")[:200]
            ),
            "pipelines": list(Pipeline.objects.filter(is_active=True).order_by("position", "id")),
            "owners": _owners(request),
        },
        status=422 if errors else 200,
    )


@member_required(Module.SALES)
@require_http_methods(["GET", "POST"])
def opportunity_edit_view(request: HttpRequest, opportunity_id: int) -> HttpResponse:
    opp = selectors.get_opportunity_for(request.membership, opportunity_id, action="edit")
    values: dict[str, Any] = {k: getattr(opp, k) for k in OPP_FIELDS}
    values["owner_id"] = opp.owner_id
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = _opp_values(request)
        try:
            services.opportunity_update(actor=request.membership, opportunity_id=opp.pk, **values)
        except ValidationFailed as exc:
            errors = exc.fields or {"name": exc.message}
        else:
            messages.success(request, _("Changes saved."))
            return redirect("sales:opportunity_detail", opp.pk)
    return render(
        request,
        "sales/opportunity_form.html",
        {"values": values, "errors": errors, "opportunity": opp, "owners": _owners(request)},
        status=422 if errors else 200,
    )


@member_required(Module.SALES)
def opportunity_detail_view(request: HttpRequest, opportunity_id: int) -> HttpResponse:
    actor = request.membership
    opp = selectors.get_opportunity_for(actor, opportunity_id)
    return render(
        request,
        "sales/opportunity_detail.html",
        {
            "opp": opp,
            "history": selectors.stage_history(opp),
            "stages": selectors.stage_list(opp.pipeline),
            "may_edit": permissions.can(actor, Module.SALES, "edit", owner_id=opp.owner_id),
            "gate_fields": GATE_FIELDS,
            "gate_labels": services.gate_field_labels(),
        },
    )


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


@member_required(Module.SALES)
@require_POST
def opportunity_move_view(request: HttpRequest, opportunity_id: int) -> HttpResponse:
    """The stage move of the drag and drop (JSON answer) and of the move menu / detail form (redirect)."""
    fields = {
        k: request.POST[k].strip()
        for k in ("amount", "expected_close_date", "competitors", "next_step", "loss_reason")
        if request.POST.get(k, "").strip()
    }
    try:
        result = services.opportunity_move(
            actor=request.membership,
            opportunity_id=opportunity_id,
            stage_id=request.POST.get("stage_id", ""),
            **fields,
        )
    except ValidationFailed as exc:
        if _wants_json(request):
            return JsonResponse(exc.as_dict(), status=422)
        messages.error(
            request, exc.message if exc.code == "stage_gate" else " ".join(exc.fields.values()) or exc.message
        )
        return redirect(
            request.POST.get("next") or reverse("sales:opportunity_detail", args=[opportunity_id])
        )
    opp = result.opportunity
    if _wants_json(request):
        return JsonResponse(
            {"id": opp.pk, "stage_id": opp.stage_id, "status": opp.status, "moved": result.moved}
        )
    if result.moved:
        messages.success(
            request, _("%(name)s moved to %(stage)s.") % {"name": opp.name, "stage": opp.stage.name}
        )
    nxt = request.POST.get("next", "")
    return redirect(nxt if nxt.startswith("/sales/") else reverse("sales:opportunity_detail", args=[opp.pk]))


# --- leads ----------------------------------------------------------------------------------------------------------


@member_required(Module.SALES)
def lead_list_view(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    qs = selectors.lead_list(actor=request.membership)
    if status in LeadStatus.values:
        qs = qs.filter(status=status)
    qs = qs.order_by("-created_at", "-id")
    after = _after(request)
    if after:
        pivot = qs.filter(pk=after).values_list("created_at", flat=True).first()
        if pivot is not None:
            qs = qs.filter(Q(created_at__lt=pivot) | Q(created_at=pivot, id__lt=after))
    rows = list(qs[: PAGE_SIZE + 1])
    return render(
        request,
        "sales/lead_list.html",
        {
            "leads": rows[:PAGE_SIZE],
            "next_after": rows[PAGE_SIZE - 1].pk if len(rows) > PAGE_SIZE else None,
            "status": status,
            "statuses": LeadStatus.choices,
            "may_add": permissions.can(request.membership, Module.SALES, "edit"),
            "may_setup": is_sales_admin(request.membership),
        },
    )


LEAD_FIELDS = (
    "name",
    "company",
    "title",
    "phone",
    "email",
    "province",
    "city",
    "industry",
    "source",
    "notes",
)


def _lead_values(request: HttpRequest) -> dict[str, Any]:
    values: dict[str, Any] = {k: request.POST.get(k, "").strip() for k in LEAD_FIELDS}
    owner = request.POST.get("owner_id", "")
    values["owner_id"] = owner if owner else None
    return values


@member_required(Module.SALES, "edit")
@require_http_methods(["GET", "POST"])
def lead_create_view(request: HttpRequest) -> HttpResponse:
    values: dict[str, Any] = {"source": LeadSource.MANUAL}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = _lead_values(request)
        try:
            data = {k: v for k, v in values.items() if k != "name"}
            lead = services.lead_create(actor=request.membership, name=values["name"], **data)
        except ValidationFailed as exc:
            errors = exc.fields
        else:
            messages.success(request, _("Lead %(name)s added.") % {"name": lead.name})
            return redirect("sales:lead_detail", lead.pk)
    return render(
        request,
        "sales/lead_form.html",
        {
            "values": values,
            "errors": errors,
            "lead": None,
            "owners": _owners(request),
            "sources": LeadSource.choices,
        },
        status=422 if errors else 200,
    )


@member_required(Module.SALES)
@require_http_methods(["GET", "POST"])
def lead_edit_view(request: HttpRequest, lead_id: int) -> HttpResponse:
    lead = selectors.get_lead_for(request.membership, lead_id, action="edit")
    values: dict[str, Any] = {k: getattr(lead, k) for k in LEAD_FIELDS}
    values["owner_id"] = lead.owner_id
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = _lead_values(request)
        try:
            services.lead_update(actor=request.membership, lead_id=lead.pk, **values)
        except ValidationFailed as exc:
            errors = exc.fields
        else:
            messages.success(request, _("Changes saved."))
            return redirect("sales:lead_detail", lead.pk)
    return render(
        request,
        "sales/lead_form.html",
        {
            "values": values,
            "errors": errors,
            "lead": lead,
            "owners": _owners(request),
            "sources": LeadSource.choices,
        },
        status=422 if errors else 200,
    )


@member_required(Module.SALES)
def lead_detail_view(request: HttpRequest, lead_id: int) -> HttpResponse:
    lead = selectors.get_lead_for(request.membership, lead_id)
    return render(
        request,
        "sales/lead_detail.html",
        {
            "lead": lead,
            "may_edit": permissions.can(request.membership, Module.SALES, "edit", owner_id=lead.owner_id),
            "is_open": lead.status in (LeadStatus.NEW, LeadStatus.WORKING, LeadStatus.QUALIFIED),
        },
    )


@member_required(Module.SALES)
@require_POST
def lead_qualify_view(request: HttpRequest, lead_id: int) -> HttpResponse:
    try:
        services.lead_qualify(actor=request.membership, lead_id=lead_id)
    except ValidationFailed as exc:
        messages.error(request, " ".join(exc.fields.values()) or exc.message)
    else:
        messages.success(request, _("Lead qualified."))
    return redirect("sales:lead_detail", lead_id)


@member_required(Module.SALES)
@require_POST
def lead_disqualify_view(request: HttpRequest, lead_id: int) -> HttpResponse:
    try:
        services.lead_disqualify(
            actor=request.membership, lead_id=lead_id, reason=request.POST.get("reason", "")
        )
    except ValidationFailed as exc:
        messages.error(request, " ".join(exc.fields.values()) or exc.message)
    else:
        messages.success(request, _("Lead disqualified."))
    return redirect("sales:lead_detail", lead_id)


@member_required(Module.SALES)
@require_http_methods(["GET", "POST"])
def lead_convert_view(request: HttpRequest, lead_id: int) -> HttpResponse:
    """Convert: shows the duplicate candidates first, offering "link to existing customer X" or "create new"."""
    actor = request.membership
    lead = selectors.get_lead_for(actor, lead_id, action="edit")
    errors: dict[str, str] = {}
    values: dict[str, Any] = {"opportunity_name": "", "amount": "", "expected_close_date": "", "choice": ""}
    if request.method == "POST":
        values = {
            k: request.POST.get(k, "").strip()
            for k in ("opportunity_name", "amount", "expected_close_date", "choice", "pipeline_id")
        }
        choice = values["choice"]
        try:
            conv = services.lead_convert(
                actor=actor,
                lead_id=lead.pk,
                customer_id=int(choice) if choice.isdigit() else None,
                create_new=choice == "new",
                create_opportunity=request.POST.get("create_opportunity", "on") == "on",
                opportunity_name=values["opportunity_name"],
                pipeline_id=int(values["pipeline_id"]) if values["pipeline_id"].isdigit() else None,
                amount=values["amount"] or None,
                expected_close_date=values["expected_close_date"] or None,
            )
        except Conflict as exc:
            errors = {"choice": exc.message}
        except ValidationFailed as exc:
            errors = exc.fields or {"choice": exc.message}
        else:
            messages.success(request, _("Lead converted."))
            if conv.opportunity is not None:
                return redirect("sales:opportunity_detail", conv.opportunity.pk)
            return redirect("customers:detail", conv.customer.pk)
    candidates = []
    for match in services.lead_duplicates(lead=lead):
        try:
            candidates.append((get_customer_for(actor, match.customer_id), match))
        except AppError:
            continue  # a look-alike the member may not see is not offered (nor revealed)
    return render(
        request,
        "sales/lead_convert.html",
        {
            "lead": lead,
            "candidates": candidates,
            "errors": errors,
            "values": values,
            "pipelines": list(Pipeline.objects.filter(is_active=True).order_by("position", "id")),
        },
        status=422 if errors else 200,
    )


def customer_opportunities_context(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    """Context for ``sales/_customer_opportunities.html`` on the customer 360 page."""
    return {
        "customer": customer,
        "sales_opportunities": selectors.customer_opportunities(
            actor=request.membership, customer_id=customer.pk
        ),
        "sales_may_add": permissions.can(request.membership, Module.SALES, "edit"),
    }

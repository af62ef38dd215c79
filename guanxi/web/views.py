"""The web shell: dashboard and the foundation's customer pages (list, search, create, edit, delete, detail).

Settings pages live in ``settings_views``, the audit browser in ``audit_views``.
"""

from __future__ import annotations

import datetime as dt
import re

from django.contrib import messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from guanxi.core.errors import ValidationFailed
from guanxi.customers.models import Customer, CustomerKind
from guanxi.customers.selectors import customer_list, get_customer_for
from guanxi.customers.services import customer_create, customer_delete, customer_update
from guanxi.web.decorators import member_required
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module
from guanxi.workspaces.selectors import active_member_users, audit_count_today, recent_activity

PAGE_SIZE = 50
# The highest code point: "name < prefix + MAX_CHAR" closes a prefix range that a B-tree index can walk
# (unlike LIKE 'x%', which needs a special operator class on PostgreSQL and case_sensitive_like on SQLite).
MAX_CHAR = "\U0010ffff"
_PHONE_PREFIX = re.compile(r"^\+?\d{3,}$")


def index(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("web:home")
    return redirect("accounts:login")


@member_required()
def home(request: HttpRequest) -> HttpResponse:
    actor = request.membership
    visible = customer_list(actor=actor)
    may_audit = permissions.can(actor, Module.AUDIT, "view")
    counts = {
        "customers": visible.count(),
        "members": Membership.objects.filter(is_active=True).count(),
        "new_this_week": visible.filter(created_at__gte=timezone.now() - dt.timedelta(days=7)).count(),
        "audit_today": audit_count_today(actor=actor) if may_audit else None,
    }
    brand_new = counts["customers"] == 0 and not Customer.objects.exists()
    return render(
        request,
        "web/home.html",
        {
            "counts": counts,
            "may_audit": may_audit,
            "activity": recent_activity(actor=actor),
            "brand_new": brand_new,
            "may_add_customer": permissions.can(actor, Module.CUSTOMERS, "edit"),
            "may_invite": permissions.can(actor, Module.SETTINGS, "edit"),
        },
    )


def no_workspace(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect("accounts:login")
    if getattr(request, "membership", None) is not None:
        return redirect("web:home")
    return render(request, "web/no_workspace.html")


# --- customers ----------------------------------------------------------------------------------------------------


def _search(qs: QuerySet[Customer], q: str) -> QuerySet[Customer]:
    """Prefix search on name or phone, on indexed columns only (customer_ws_name_idx, customer_ws_phone_idx).

    Phones are stored in E.164 (+8613800138000); a typed "138 0013" also matches as "+86138 0013"-prefix.
    """
    q = q.strip()
    if not q:
        return qs
    cond = Q(name__gte=q, name__lt=q + MAX_CHAR)
    compact = q.replace(" ", "").replace("-", "")
    if _PHONE_PREFIX.match(compact):
        prefixes = [compact] if compact.startswith("+") else [compact, "+86" + compact]
        for prefix in prefixes:
            cond |= Q(phone__gte=prefix, phone__lt=prefix + MAX_CHAR)
    return qs.filter(cond)


@member_required(Module.CUSTOMERS)
def customer_list_view(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()[:100]
    qs = _search(customer_list(actor=request.membership), q).order_by("-created_at", "-id")
    after = request.GET.get("after", "")
    if after.isdigit():
        pivot = qs.filter(pk=int(after)).values_list("created_at", flat=True).first()
        if pivot is not None:
            qs = qs.filter(Q(created_at__lt=pivot) | Q(created_at=pivot, id__lt=int(after)))
    rows = list(qs[: PAGE_SIZE + 1])
    next_after = rows[PAGE_SIZE - 1].pk if len(rows) > PAGE_SIZE else None
    context = {
        "customers": rows[:PAGE_SIZE],
        "next_after": next_after,
        "q": q,
        "may_add": permissions.can(request.membership, Module.CUSTOMERS, "edit"),
    }
    template = "web/_customer_table.html" if request.htmx else "web/customer_list.html"
    return render(request, template, context)


@member_required(Module.CUSTOMERS)
def customer_detail_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = get_customer_for(request.membership, customer_id)
    may_edit = permissions.can(request.membership, Module.CUSTOMERS, "edit", owner_id=customer.owner_id)
    return render(request, "web/customer_detail.html", {"customer": customer, "may_edit": may_edit})


FORM_FIELDS = ("kind", "name", "phone", "email", "province", "city", "industry", "source", "notes")


def _form_values(request: HttpRequest) -> dict[str, object]:
    data: dict[str, object] = {k: request.POST.get(k, "").strip() for k in FORM_FIELDS}
    owner = request.POST.get("owner_id", "")
    if owner:
        data["owner_id"] = int(owner) if owner.isdigit() else -1
    return data


def _form_context(request: HttpRequest, values: dict, errors: dict, customer: Customer | None) -> dict:
    return {
        "values": values,
        "errors": errors,
        "customer": customer,
        "kinds": CustomerKind.choices,
        # only the owners this member may give a customer to (a sales rep: themselves)
        "owners": [
            u
            for u in active_member_users()
            if permissions.can(request.membership, Module.CUSTOMERS, "edit", owner_id=u.pk)
        ],
    }


@member_required(Module.CUSTOMERS, "edit")
@require_http_methods(["GET", "POST"])
def customer_create_view(request: HttpRequest) -> HttpResponse:
    values: dict[str, object] = {"kind": CustomerKind.PERSON, "owner_id": request.user.pk}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = _form_values(request)
        try:
            fields = {k: v for k, v in values.items() if k != "name"}
            customer = customer_create(actor=request.membership, name=str(values["name"]), **fields)
        except ValidationFailed as exc:
            errors = exc.fields
        else:
            messages.success(request, _("Customer %(name)s added.") % {"name": customer.name})
            return redirect("web:customer_detail", customer.pk)
    return render(
        request,
        "web/customer_form.html",
        _form_context(request, values, errors, None),
        status=422 if errors else 200,
    )


@member_required(Module.CUSTOMERS)
@require_http_methods(["GET", "POST"])
def customer_edit_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = get_customer_for(request.membership, customer_id, action="edit")
    values: dict[str, object] = {k: getattr(customer, k) for k in FORM_FIELDS}
    values["owner_id"] = customer.owner_id
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = _form_values(request)
        try:
            customer = customer_update(actor=request.membership, customer_id=customer.pk, **values)
        except ValidationFailed as exc:
            errors = exc.fields
        else:
            messages.success(request, _("Changes saved."))
            return redirect("web:customer_detail", customer.pk)
    return render(
        request,
        "web/customer_form.html",
        _form_context(request, values, errors, customer),
        status=422 if errors else 200,
    )


@member_required(Module.CUSTOMERS)
@require_http_methods(["GET", "POST"])
def customer_delete_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = get_customer_for(request.membership, customer_id, action="edit")
    if request.method == "POST":
        customer_delete(actor=request.membership, customer_id=customer.pk)
        messages.success(request, _("Customer %(name)s deleted.") % {"name": customer.name})
        return redirect("web:customer_list")
    return render(
        request,
        "web/confirm.html",
        {
            "title": _("Delete customer %(name)s?") % {"name": customer.name},
            "body": _("The customer and their details are deleted. The audit trail keeps a record."),
            "confirm_label": _("Delete customer"),
            "cancel_url": reverse("web:customer_detail", args=[customer.pk]),
        },
    )

"""The web shell: dashboard and the no-workspace page.

Customer pages live in ``guanxi.customers.views``, settings pages in ``settings_views``, the audit browser in
``audit_views``.
"""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from guanxi.customers.models import Customer
from guanxi.customers.selectors import customer_list
from guanxi.web.decorators import member_required
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module
from guanxi.workspaces.selectors import audit_count_today, recent_activity


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

"""The web shell: dashboard and the foundation's customer pages."""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from guanxi.customers.selectors import customer_list, get_customer_for
from guanxi.web.decorators import member_required
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module


def index(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("web:home")
    return redirect("accounts:login")


@member_required()
def home(request: HttpRequest) -> HttpResponse:
    actor = request.membership
    visible = customer_list(actor=actor)
    counts = {
        "customers": visible.count(),
        "members": Membership.objects.filter(is_active=True).count(),
        "new_this_week": visible.filter(created_at__gte=timezone.now() - dt.timedelta(days=7)).count(),
    }
    return render(request, "web/home.html", {"counts": counts})


def no_workspace(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect("accounts:login")
    if getattr(request, "membership", None) is not None:
        return redirect("web:home")
    return render(request, "web/no_workspace.html")


@member_required(Module.CUSTOMERS)
def customer_list_view(request: HttpRequest) -> HttpResponse:
    qs = customer_list(actor=request.membership).order_by("-created_at", "-id")
    page_size = 50
    after = request.GET.get("after", "")
    if after.isdigit():
        pivot = qs.filter(pk=int(after)).values_list("created_at", flat=True).first()
        if pivot is not None:
            from django.db.models import Q

            qs = qs.filter(Q(created_at__lt=pivot) | Q(created_at=pivot, id__lt=int(after)))
    rows = list(qs[: page_size + 1])
    next_after = rows[page_size - 1].pk if len(rows) > page_size else None
    return render(
        request, "web/customer_list.html", {"customers": rows[:page_size], "next_after": next_after}
    )


@member_required(Module.CUSTOMERS)
def customer_detail_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = get_customer_for(request.membership, customer_id)
    return render(request, "web/customer_detail.html", {"customer": customer})

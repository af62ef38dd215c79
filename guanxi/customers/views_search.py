"""The web search: results page and the top bar's as-you-type list (htmx), both from ``customer_search``."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from guanxi.customers.privacy import personal_access
from guanxi.customers.search import MAX_QUERY_LENGTH, customer_search, parse_query, present_hit
from guanxi.web.decorators import member_required
from guanxi.workspaces.permissions import Module

PAGE_LIMIT = 50
BOX_LIMIT = 8


@member_required(Module.CUSTOMERS)
def search_view(request: HttpRequest) -> HttpResponse:
    """``/search/?q=``: the full results page; with ``box=1`` from htmx, the top bar's short list."""
    q = request.GET.get("q", "").strip()[:MAX_QUERY_LENGTH]
    box = bool(request.htmx) and request.GET.get("box") == "1"
    actor = request.membership
    hits = []
    if q:
        access = personal_access(actor)
        hits = [
            present_hit(actor, c, score, access=access)
            for c, score in customer_search(actor=actor, q=q, limit=BOX_LIMIT if box else PAGE_LIMIT)
        ]
    context = {"q": q, "hits": hits, "box": box, "kind": parse_query(q).kind}
    if box:
        return render(request, "customers/_search_box_results.html", context)
    if request.htmx:
        return render(request, "customers/_search_results.html", context)
    return render(request, "customers/search.html", context)

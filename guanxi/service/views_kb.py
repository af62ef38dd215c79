"""Web pages of the knowledge base (知识库): list and search, article view/edit with versions, canned replies."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from guanxi.core.errors import AppError, ValidationFailed
from guanxi.service import selectors_kb
from guanxi.service.api_kb import excerpt
from guanxi.service.models.knowledge import ArticleKind, ArticleStatus
from guanxi.service.selectors import get_ticket_for
from guanxi.service.services import knowledge as kb
from guanxi.web.decorators import member_required
from guanxi.workspaces.permissions import Module

PAGE_SIZE = 50


def _ctx(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    return {
        "may_edit": kb.may_edit_kb(request.membership),
        "categories": selectors_kb.category_list(),
        "kinds": ArticleKind.choices,
        "statuses": ArticleStatus.choices,
        **extra,
    }


@member_required(Module.SERVICE)
def kb_list_view(request: HttpRequest) -> HttpResponse:
    actor = request.membership
    q = request.GET.get("q", "").strip()[:200]
    category = request.GET.get("category", "")
    kind = request.GET.get("kind", "")
    if q:
        hits = selectors_kb.article_search(actor=actor, q=q, limit=50, kind=kind or None)
        articles = [h.article for h in hits]
        if category.isdigit():
            articles = [a for a in articles if a.category_id == int(category)]
    else:
        qs = selectors_kb.article_list(actor=actor)
        if category.isdigit():
            qs = qs.filter(category_id=int(category))
        if kind in ArticleKind.values:
            qs = qs.filter(kind=kind)
        articles = list(qs.order_by("-updated_at", "-id")[:PAGE_SIZE])
    rows = [{"article": a, "excerpt": excerpt(a.body)} for a in articles]
    ctx = _ctx(request, rows=rows, q=q, category=category, kind=kind)
    return render(request, "service/kb_list.html", ctx)


def _form_values(request: HttpRequest) -> dict[str, Any]:
    return {
        "title": request.POST.get("title", ""),
        "body": request.POST.get("body", ""),
        "kind": request.POST.get("kind", ArticleKind.ARTICLE),
        "status": request.POST.get("status", ArticleStatus.DRAFT),
        "category_id": request.POST.get("category_id") or None,
        "keywords": request.POST.get("keywords", ""),
    }


@member_required(Module.SERVICE, "edit")
@require_http_methods(["GET", "POST"])
def kb_create_view(request: HttpRequest) -> HttpResponse:
    values: dict[str, Any] = {"kind": request.GET.get("kind", ArticleKind.ARTICLE), "status": "draft"}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = _form_values(request)
        try:
            article = kb.article_create(actor=request.membership, **values)
        except ValidationFailed as exc:
            errors = exc.fields
        else:
            messages.success(request, _("Article saved."))
            return redirect("service:kb_detail", article.pk)
    return render(request, "service/kb_form.html", _ctx(request, values=values, errors=errors, article=None))


@member_required(Module.SERVICE)
def kb_detail_view(request: HttpRequest, article_id: int) -> HttpResponse:
    article = selectors_kb.get_article_for(request.membership, article_id)
    return render(request, "service/kb_article.html", _ctx(request, article=article))


@member_required(Module.SERVICE)
@require_http_methods(["GET", "POST"])
def kb_edit_view(request: HttpRequest, article_id: int) -> HttpResponse:
    article = selectors_kb.get_article_for(request.membership, article_id)
    if not kb.may_edit_kb(request.membership):
        return redirect("service:kb_detail", article.pk)
    values: dict[str, Any] = {
        "title": article.title,
        "body": article.body,
        "kind": article.kind,
        "status": article.status,
        "category_id": article.category_id,
        "keywords": article.keywords,
        "version": article.version,
    }
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = _form_values(request)
        expected = request.POST.get("version", "")
        try:
            kb.article_update(
                actor=request.membership,
                article_id=article.pk,
                note=request.POST.get("note", "")[:200],
                expected_version=int(expected) if expected.isdigit() else None,
                **values,
            )
        except AppError as exc:
            errors = exc.fields or {"form": exc.message}
            values["version"] = expected
        else:
            messages.success(request, _("Article saved."))
            return redirect("service:kb_detail", article.pk)
    return render(
        request, "service/kb_form.html", _ctx(request, values=values, errors=errors, article=article)
    )


@member_required(Module.SERVICE)
def kb_versions_view(request: HttpRequest, article_id: int) -> HttpResponse:
    article = selectors_kb.get_article_for(request.membership, article_id)
    versions = list(selectors_kb.article_version_list(article)[:200])
    return render(request, "service/kb_versions.html", _ctx(request, article=article, versions=versions))


@member_required(Module.SERVICE)
def kb_version_view(request: HttpRequest, article_id: int, version: int) -> HttpResponse:
    article = selectors_kb.get_article_for(request.membership, article_id)
    old = selectors_kb.get_article_version(article, version)
    return render(request, "service/kb_version.html", _ctx(request, article=article, old=old))


@member_required(Module.SERVICE)
@require_POST
def kb_restore_view(request: HttpRequest, article_id: int, version: int) -> HttpResponse:
    article = selectors_kb.get_article_for(request.membership, article_id)
    try:
        kb.article_restore(actor=request.membership, article_id=article.pk, version=version)
    except AppError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Version %(v)s restored as a new version.") % {"v": version})
    return redirect("service:kb_detail", article.pk)


@member_required(Module.SERVICE, "edit")
@require_POST
def kb_category_create_view(request: HttpRequest) -> HttpResponse:
    try:
        kb.category_create(actor=request.membership, name=request.POST.get("name", ""))
    except AppError as exc:
        messages.error(request, "; ".join(exc.fields.values()) or exc.message)
    else:
        messages.success(request, _("Category added."))
    return redirect("service:kb_list")


@member_required(Module.SERVICE)
@require_http_methods(["GET", "POST"])
def canned_list_view(request: HttpRequest) -> HttpResponse:
    actor = request.membership
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = {
            "title": request.POST.get("title", ""),
            "body": request.POST.get("body", ""),
            "category_id": request.POST.get("category_id") or None,
        }
        try:
            kb.canned_reply_create(actor=actor, **values)
        except AppError as exc:
            errors = exc.fields or {"form": exc.message}
        else:
            messages.success(request, _("Canned reply added."))
            return redirect("service:canned_list")
    replies = list(selectors_kb.canned_reply_list(actor=actor, active_only=False)[:500])
    ctx = _ctx(request, replies=replies, values=values, errors=errors, placeholders=kb.PLACEHOLDERS)
    return render(request, "service/kb_canned.html", ctx, status=422 if errors else 200)


@member_required(Module.SERVICE)
@require_http_methods(["GET", "POST"])
def canned_edit_view(request: HttpRequest, reply_id: int) -> HttpResponse:
    reply = selectors_kb.get_canned_reply_for(request.membership, reply_id)
    errors: dict[str, str] = {}
    values = {
        "title": reply.title,
        "body": reply.body,
        "category_id": reply.category_id,
        "is_active": reply.is_active,
    }
    if request.method == "POST":
        values = {
            "title": request.POST.get("title", ""),
            "body": request.POST.get("body", ""),
            "category_id": request.POST.get("category_id") or None,
            "is_active": request.POST.get("is_active") == "1",
        }
        try:
            kb.canned_reply_update(actor=request.membership, reply_id=reply.pk, **values)
        except AppError as exc:
            errors = exc.fields or {"form": exc.message}
        else:
            messages.success(request, _("Canned reply saved."))
            return redirect("service:canned_list")
    ctx = _ctx(request, reply=reply, values=values, errors=errors, placeholders=kb.PLACEHOLDERS)
    return render(request, "service/kb_canned_form.html", ctx, status=422 if errors else 200)


@member_required(Module.SERVICE)
def kb_ticket_panel_view(request: HttpRequest, ticket_id: int) -> HttpResponse:
    """A fragment for the ticket page (hx-get): suggested articles and the canned replies filled in for this
    ticket, each with a button that inserts it into the reply box (``textarea[name=body]``)."""
    actor = request.membership
    ticket = get_ticket_for(actor, ticket_id)
    values = selectors_kb.ticket_placeholders(ticket, actor)
    ctx = {
        "ticket": ticket,
        "hits": selectors_kb.article_suggest(actor=actor, text=selectors_kb.ticket_text(ticket), limit=5),
        "replies": [
            {"reply": r, "text": kb.canned_reply_render(r, values=values)}
            for r in selectors_kb.canned_reply_list(actor=actor)[:50]
        ],
    }
    return render(request, "service/kb_ticket_panel.html", ctx)

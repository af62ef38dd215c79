"""API routes of the knowledge base (知识库): /kb/articles (with versions and search), /kb/categories,
/canned-replies. Reads through ``selectors_kb``, writes through ``services.knowledge``."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from guanxi.core.api_support import CURSOR_QUERY, LIMIT_QUERY, ErrorOut, member, page_of, paginate
from guanxi.service import selectors_kb
from guanxi.service.selectors import get_ticket_for
from guanxi.service.services import knowledge as kb

router = Router(tags=["knowledge base"])

ERRORS: dict[int, type[ErrorOut]] = {code: ErrorOut for code in (400, 401, 403, 404, 409, 422, 429)}
KindLit = Literal["article", "script"]
StatusLit = Literal["draft", "published", "archived"]


class ArticleOut(Schema):
    id: int
    title: str
    body: str
    kind: str
    status: str
    category_id: int | None
    keywords: str
    version: int
    published_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class ArticleIn(Schema):
    title: str = Field(max_length=kb.TITLE_MAX)
    body: str = Field(max_length=kb.BODY_MAX)
    kind: KindLit = "article"
    status: StatusLit = "draft"
    category_id: int | None = None
    keywords: str = Field("", max_length=kb.KEYWORDS_MAX)


class ArticlePatch(Schema):
    title: str | None = Field(None, max_length=kb.TITLE_MAX)
    body: str | None = Field(None, max_length=kb.BODY_MAX)
    kind: KindLit | None = None
    status: StatusLit | None = None
    category_id: int | None = None
    keywords: str | None = Field(None, max_length=kb.KEYWORDS_MAX)
    note: str = Field("", max_length=200, description="Why this edit (kept with the version).")
    expected_version: int | None = Field(
        None, description="The version you edited; a newer saved version answers 409 stale_version."
    )


class ArticleFilters(Schema):
    status: StatusLit | None = None
    kind: KindLit | None = None
    category_id: int | None = None


class HitOut(Schema):
    id: int
    title: str
    kind: str
    status: str
    category_id: int | None
    excerpt: str
    rank: float


class VersionOut(Schema):
    version: int
    title: str
    body: str
    kind: str
    status: str
    category_id: int | None
    keywords: str
    note: str
    edited_by: str | None
    created_at: dt.datetime

    @staticmethod
    def resolve_edited_by(obj: object) -> str | None:
        user = getattr(obj, "edited_by", None)
        return user.get_username() if user else None


class CategoryOut(Schema):
    id: int
    name: str
    parent_id: int | None


class CategoryIn(Schema):
    name: str = Field(max_length=100)
    parent_id: int | None = None


class CannedOut(Schema):
    id: int
    title: str
    body: str
    category_id: int | None
    is_active: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class CannedIn(Schema):
    title: str = Field(max_length=120)
    body: str = Field(
        max_length=10_000, description="Placeholders: {customer_name}, {ticket_no}, {agent_name}."
    )
    category_id: int | None = None


class CannedPatch(Schema):
    title: str | None = Field(None, max_length=120)
    body: str | None = Field(None, max_length=10_000)
    category_id: int | None = None
    is_active: bool | None = None


class RenderedOut(Schema):
    text: str


def excerpt(body: str, n: int = 160) -> str:
    text = " ".join(body.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def present_hits(hits: list[selectors_kb.Hit]) -> list[dict]:
    return [
        {
            "id": h.article.pk,
            "title": h.article.title,
            "kind": h.article.kind,
            "status": h.article.status,
            "category_id": h.article.category_id,
            "excerpt": excerpt(h.article.body),
            "rank": round(h.rank, 6),
        }
        for h in hits
    ]


# --- articles -------------------------------------------------------------------------------------------------------
@router.get(
    "/kb/articles/search",
    response={200: list[HitOut], **ERRORS},
    summary="Search the knowledge base",
    description="Chinese full-text search (jieba words): articles holding every word first, then any word.",
)
def article_search(
    request: HttpRequest, q: str = Query(..., max_length=200), limit: int = Query(10, ge=1, le=50),
    kind: KindLit | None = None, published_only: bool = False,
) -> list[dict]:  # fmt: skip
    hits = selectors_kb.article_search(
        actor=member(request), q=q, limit=limit, kind=kind, published_only=published_only
    )
    return present_hits(hits)


@router.get(
    "/kb/suggestions",
    response={200: list[HitOut], **ERRORS},
    summary="Articles suggested for a text (a ticket's subject and description)",
)
def article_suggestions(
    request: HttpRequest, text: str = Query(..., max_length=20_000), limit: int = Query(5, ge=1, le=20)
) -> list[dict]:
    return present_hits(selectors_kb.article_suggest(actor=member(request), text=text, limit=limit))


@router.get("/kb/articles", response={200: page_of(ArticleOut), **ERRORS}, summary="List articles")
def articles(
    request: HttpRequest, filters: Query[ArticleFilters], limit: int = LIMIT_QUERY, cursor: str | None = CURSOR_QUERY
) -> dict:  # fmt: skip
    qs = selectors_kb.article_list(actor=member(request))
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    if filters.category_id is not None:
        qs = qs.filter(category_id=filters.category_id)
    return paginate(qs, order=("-updated_at", "-id"), limit=limit, cursor=cursor)


@router.post("/kb/articles", response={201: ArticleOut, **ERRORS}, summary="Write an article")
def article_add(request: HttpRequest, payload: ArticleIn) -> Status:
    return Status(201, kb.article_create(actor=member(request), **payload.dict()))


@router.get("/kb/articles/{article_id}", response={200: ArticleOut, **ERRORS}, summary="Get an article")
def article_detail(request: HttpRequest, article_id: int) -> object:
    return selectors_kb.get_article_for(member(request), article_id)


@router.patch(
    "/kb/articles/{article_id}",
    response={200: ArticleOut, **ERRORS},
    summary="Edit an article (saves a new version)",
)
def article_change(request: HttpRequest, article_id: int, payload: ArticlePatch) -> object:
    actor = member(request)
    selectors_kb.get_article_for(actor, article_id)
    data = payload.dict(exclude_unset=True)
    note = data.pop("note", "")
    expected = data.pop("expected_version", None)
    return kb.article_update(actor=actor, article_id=article_id, note=note, expected_version=expected, **data)


@router.delete("/kb/articles/{article_id}", response={204: None, **ERRORS}, summary="Delete an article")
def article_remove(request: HttpRequest, article_id: int) -> Status:
    actor = member(request)
    selectors_kb.get_article_for(actor, article_id)
    kb.article_delete(actor=actor, article_id=article_id)
    return Status(204, None)


@router.get(
    "/kb/articles/{article_id}/versions",
    response={200: list[VersionOut], **ERRORS},
    summary="An article's versions, newest first",
)
def article_versions(request: HttpRequest, article_id: int) -> list:
    article = selectors_kb.get_article_for(member(request), article_id)
    return list(selectors_kb.article_version_list(article)[:200])


@router.get(
    "/kb/articles/{article_id}/versions/{version}",
    response={200: VersionOut, **ERRORS},
    summary="One version of an article",
)
def article_version(request: HttpRequest, article_id: int, version: int) -> object:
    article = selectors_kb.get_article_for(member(request), article_id)
    return selectors_kb.get_article_version(article, version)


@router.post(
    "/kb/articles/{article_id}/versions/{version}/restore",
    response={200: ArticleOut, **ERRORS},
    summary="Restore an earlier version (as a new version)",
)
def article_restore(request: HttpRequest, article_id: int, version: int) -> object:
    actor = member(request)
    selectors_kb.get_article_for(actor, article_id)
    return kb.article_restore(actor=actor, article_id=article_id, version=version)


# --- categories -----------------------------------------------------------------------------------------------------
@router.get("/kb/categories", response={200: list[CategoryOut], **ERRORS}, summary="List article categories")
def categories(request: HttpRequest) -> list:
    member(request)
    return selectors_kb.category_list()


@router.post("/kb/categories", response={201: CategoryOut, **ERRORS}, summary="Add an article category")
def category_add(request: HttpRequest, payload: CategoryIn) -> Status:
    return Status(201, kb.category_create(actor=member(request), **payload.dict()))


# --- canned replies -------------------------------------------------------------------------------------------------
@router.get("/canned-replies", response={200: page_of(CannedOut), **ERRORS}, summary="List canned replies")
def canned_replies(
    request: HttpRequest, active_only: bool = True, limit: int = LIMIT_QUERY, cursor: str | None = CURSOR_QUERY
) -> dict:  # fmt: skip
    qs = selectors_kb.canned_reply_list(actor=member(request), active_only=active_only)
    return paginate(qs, order=("title", "id"), limit=limit, cursor=cursor)


@router.post("/canned-replies", response={201: CannedOut, **ERRORS}, summary="Add a canned reply")
def canned_reply_add(request: HttpRequest, payload: CannedIn) -> Status:
    return Status(201, kb.canned_reply_create(actor=member(request), **payload.dict()))


@router.get("/canned-replies/{reply_id}", response={200: CannedOut, **ERRORS}, summary="Get a canned reply")
def canned_reply_detail(request: HttpRequest, reply_id: int) -> object:
    return selectors_kb.get_canned_reply_for(member(request), reply_id)


@router.patch(
    "/canned-replies/{reply_id}", response={200: CannedOut, **ERRORS}, summary="Change a canned reply"
)
def canned_reply_change(request: HttpRequest, reply_id: int, payload: CannedPatch) -> object:
    actor = member(request)
    selectors_kb.get_canned_reply_for(actor, reply_id)
    return kb.canned_reply_update(actor=actor, reply_id=reply_id, **payload.dict(exclude_unset=True))


# --- on a ticket ----------------------------------------------------------------------------------------------------
@router.get(
    "/tickets/{ticket_id}/suggested-articles",
    response={200: list[HitOut], **ERRORS},
    summary="Published articles suggested for a ticket (from its subject and description)",
)
def ticket_suggestions(
    request: HttpRequest, ticket_id: int, limit: int = Query(5, ge=1, le=20)
) -> list[dict]:
    actor = member(request)
    ticket = get_ticket_for(actor, ticket_id)
    return present_hits(
        selectors_kb.article_suggest(actor=actor, text=selectors_kb.ticket_text(ticket), limit=limit)
    )


@router.get(
    "/canned-replies/{reply_id}/render",
    response={200: RenderedOut, **ERRORS},
    summary="A canned reply with its placeholders filled for a ticket",
)
def canned_reply_render(request: HttpRequest, reply_id: int, ticket_id: int) -> dict:
    actor = member(request)
    reply = selectors_kb.get_canned_reply_for(actor, reply_id)
    ticket = get_ticket_for(actor, ticket_id)
    return {"text": kb.canned_reply_render(reply, values=selectors_kb.ticket_placeholders(ticket, actor))}

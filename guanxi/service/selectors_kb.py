"""Reads of the knowledge base (知识库): article lists, access guards, Chinese full-text search, suggestions.

Search (``article_search``) runs over ``Article.search_tokens`` (jieba tokens, see ``services.knowledge``):

- PostgreSQL: ``to_tsvector('simple', search_tokens) @@ to_tsquery('simple', ...)``, ranked by ``ts_rank``, through
  the GIN expression index ``kb_article_tsv_idx`` (migration 0002 of this app's knowledge base);
- SQLite: ``service_article_fts MATCH ...`` (FTS5, unicode61 over the same tokens), ranked by ``bm25``.

Articles that hold every query word come first, then (to fill the list) those holding any of them; a query with no
indexed word (one character, say) falls back to a substring scan of this workspace's titles and bodies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet

from guanxi.core.context import require_workspace
from guanxi.core.errors import NotFound
from guanxi.service.models.knowledge import (
    Article,
    ArticleCategory,
    ArticleStatus,
    ArticleVersion,
    CannedReply,
)
from guanxi.service.services.knowledge import (
    keyword_tokens,
    may_edit_kb,
    query_tokens,
    sqlite_kb_index_ensure,
)
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module

SEARCH_MAX = 50


def _visible_statuses(actor: Membership) -> list[str]:
    """Editors see drafts and archived articles too; everyone else only what is published."""
    if may_edit_kb(actor):
        return list(ArticleStatus.values)
    return [ArticleStatus.PUBLISHED]


def article_list(*, actor: Membership) -> QuerySet[Article]:
    if not permissions.can(actor, Module.SERVICE, "view"):
        return Article.objects.none()
    return Article.objects.filter(status__in=_visible_statuses(actor)).select_related("category")


def get_article_for(actor: Membership, article_id: Any) -> Article:
    """The article if the actor may read it; NotFound alike for missing, another workspace's, or a draft the
    actor may not see."""
    try:
        pk = int(article_id)
    except (TypeError, ValueError):
        raise NotFound() from None
    article = article_list(actor=actor).filter(pk=pk).first()
    if article is None:
        raise NotFound()
    return article


def article_version_list(article: Article) -> QuerySet[ArticleVersion]:
    return ArticleVersion.objects.filter(article=article).select_related("edited_by").order_by("-version")


def get_article_version(article: Article, version: Any) -> ArticleVersion:
    try:
        v = int(version)
    except (TypeError, ValueError):
        raise NotFound() from None
    row = ArticleVersion.objects.filter(article=article, version=v).select_related("edited_by").first()
    if row is None:
        raise NotFound()
    return row


def category_list() -> list[ArticleCategory]:
    return list(ArticleCategory.objects.all())


@dataclass
class Hit:
    article: Article
    rank: float


def _fts_ids(tokens: list[str], *, op: str, statuses: list[str], limit: int) -> list[tuple[int, float]]:
    """(article id, rank) of the current workspace's articles matching the tokens joined by ``op`` (AND/OR)."""
    ws = require_workspace()
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            joiner = " & " if op == "AND" else " | "
            tsq = joiner.join(f"'{t}'" for t in tokens)  # tokens are \w+ only: nothing to escape
            cur.execute(
                "SELECT a.id, ts_rank(to_tsvector('simple', a.search_tokens), q) AS r "
                "FROM service_article a, to_tsquery('simple', %s) q "
                "WHERE a.workspace_id = %s AND a.status = ANY(%s) "
                "AND to_tsvector('simple', a.search_tokens) @@ q "
                "ORDER BY r DESC, a.updated_at DESC, a.id DESC LIMIT %s",
                [tsq, ws.pk, statuses, limit],
            )
            return [(row[0], float(row[1])) for row in cur.fetchall()]
        sqlite_kb_index_ensure()
        match = f" {op} ".join(f'"{t}"' for t in tokens)
        cur.execute(
            "SELECT a.id, bm25(service_article_fts) AS r FROM service_article_fts "
            "JOIN service_article a ON a.id = service_article_fts.rowid "
            "WHERE service_article_fts MATCH %s AND a.workspace_id = %s "
            "AND a.status IN (SELECT value FROM json_each(%s)) "
            "ORDER BY r, a.updated_at DESC, a.id DESC LIMIT %s",
            [match, ws.pk, json.dumps(statuses), limit],
        )
        return [(row[0], -float(row[1])) for row in cur.fetchall()]  # bm25: lower is better


def _hits(ids: list[tuple[int, float]], *, actor: Membership) -> list[Hit]:
    rank = dict(ids)
    rows = {a.pk: a for a in article_list(actor=actor).filter(pk__in=list(rank))}
    return [Hit(rows[pk], r) for pk, r in ids if pk in rows]


def article_search(
    *,
    actor: Membership,
    q: str,
    limit: int = 10,
    published_only: bool = False,
    kind: str | None = None,
    tokens: list[str] | None = None,
    match_all_first: bool = True,
) -> list[Hit]:
    """Articles matching ``q`` (or ``tokens``), best first. See the module docstring for the tiers."""
    if not permissions.can(actor, Module.SERVICE, "view"):
        return []
    limit = max(1, min(int(limit), SEARCH_MAX))
    statuses = [ArticleStatus.PUBLISHED] if published_only else _visible_statuses(actor)
    tokens = query_tokens(q) if tokens is None else tokens
    tokens = tokens[:32]
    fetch = limit * 3 if kind else limit
    found: list[tuple[int, float]] = []
    if tokens:
        if match_all_first and len(tokens) > 1:
            found = _fts_ids(tokens, op="AND", statuses=statuses, limit=fetch)
        if len(found) < fetch:
            seen = {pk for pk, _r in found}
            more = _fts_ids(tokens, op="OR", statuses=statuses, limit=fetch + len(seen))
            found += [(pk, r) for pk, r in more if pk not in seen]  # listed after every all-word hit
    hits = _hits(found, actor=actor)
    if not hits and q and q.strip():
        text = q.strip()[:100]
        qs = article_list(actor=actor).filter(status__in=statuses)
        qs = qs.filter(Q(title__icontains=text) | Q(body__icontains=text)).order_by("-updated_at", "-id")
        hits = [Hit(a, 0.0) for a in qs[:fetch]]
    if kind:
        hits = [h for h in hits if h.article.kind == kind]
    return hits[:limit]


def article_suggest(*, actor: Membership, text: str, limit: int = 5) -> list[Hit]:
    """Published articles suggested for a ticket: its subject and description reduced to their most telling words
    (TF-IDF), then the same search, any word matching, best first."""
    tokens = keyword_tokens(text)
    if not tokens:
        return []
    return article_search(
        actor=actor, q="", tokens=tokens, limit=limit, published_only=True, match_all_first=False
    )


def canned_reply_list(*, actor: Membership, active_only: bool = True) -> QuerySet[CannedReply]:
    if not permissions.can(actor, Module.SERVICE, "view"):
        return CannedReply.objects.none()
    qs = CannedReply.objects.all()
    if active_only:
        qs = qs.filter(is_active=True)
    return qs


def get_canned_reply_for(actor: Membership, reply_id: Any) -> CannedReply:
    try:
        pk = int(reply_id)
    except (TypeError, ValueError):
        raise NotFound() from None
    row = canned_reply_list(actor=actor, active_only=False).filter(pk=pk).first()
    if row is None:
        raise NotFound()
    return row


def ticket_text(ticket: Any) -> str:
    """The text a ticket's suggestions are drawn from: its subject and description."""
    return f"{ticket.subject}\n{ticket.description}"


def ticket_placeholders(ticket: Any, actor: Membership) -> dict[str, str]:
    """Values of the canned-reply placeholders for a reply on ``ticket`` written by ``actor``."""
    user = actor.user
    return {
        "customer_name": ticket.customer.name if ticket.customer_id else "",
        "ticket_no": f"#{ticket.pk}",
        "agent_name": user.get_full_name() or user.get_username(),
    }

"""Writes of the knowledge base (知识库): categories, articles with versions, canned replies; the search tokens.

Permissions: everyone with service view reads published articles; writing needs the service module's edit
permission (service agents, managers, admins). Every write runs in one transaction and is audited.

Search tokens: ``tokenize`` cuts text with jieba (search mode, so "退货政策" also yields "退货" and "政策"), lower-cases
it and keeps word-like tokens only, which both PostgreSQL's ``to_tsvector('simple', ...)`` and SQLite's FTS5
``unicode61`` then split on the spaces between them.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from guanxi.ledger.services import audit_record, snapshot
from guanxi.service.models.knowledge import (
    Article,
    ArticleCategory,
    ArticleKind,
    ArticleStatus,
    ArticleVersion,
    CannedReply,
)
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module

TITLE_MAX, BODY_MAX, KEYWORDS_MAX = 200, 100_000, 300
FTS_TABLE = "service_article_fts"
_WORD = re.compile(r"\w+", re.UNICODE)
# Function words that would make every article match a ticket's text.
STOPWORDS = frozenset(
    [
        "的",
        "了",
        "是",
        "我",
        "你",
        "他",
        "她",
        "它",
        "们",
        "我们",
        "你们",
        "在",
        "和",
        "与",
        "及",
        "或",
        "也",
        "就",
        "都",
        "而",
        "及其",
        "有",
        "没有",
        "不",
        "吗",
        "呢",
        "吧",
        "啊",
        "呀",
        "这",
        "那",
        "这个",
        "那个",
        "一个",
        "请",
        "请问",
        "怎么",
        "如何",
        "什么",
        "为什么",
        "可以",
        "能",
        "会",
        "要",
        "想",
        "还",
        "又",
        "很",
        "被",
        "把",
        "给",
        "对",
        "从",
        "到",
        "a",
        "an",
        "the",
        "of",
        "to",
        "and",
        "or",
        "is",
        "are",
        "be",
        "in",
        "on",
        "for",
        "with",
        "it",
        "this",
        "that",
        "i",
        "you",
        "we",
        "my",
        "your",
        "please",
        "how",
        "what",
        "why",
        "can",
    ]
)

_jieba_lock = threading.Lock()
_jieba: Any = None


def _tokenizer() -> Any:
    """jieba, initialised once with its dictionary cache in the data folder (it writes one on first use)."""
    global _jieba
    if _jieba is None:
        with _jieba_lock:
            if _jieba is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                data_dir = getattr(settings, "DATA_DIR", None)
                if data_dir:
                    jieba.dt.tmp_dir = str(data_dir)
                jieba.initialize()
                _jieba = jieba
    return _jieba


def _clean_tokens(words: Any) -> list[str]:
    out = []
    for w in words:
        for part in _WORD.findall(str(w).lower()):
            if part and part not in STOPWORDS and part != "_":
                out.append(part)
    return out


def tokenize(text: str) -> list[str]:
    """Index tokens of ``text``: jieba's search-mode cut (words and their dictionary sub-words), cleaned."""
    return _clean_tokens(_tokenizer().cut_for_search(text or ""))


def query_tokens(text: str) -> list[str]:
    """Tokens of a search box query: jieba's precise cut, cleaned, each once, in order."""
    seen: dict[str, None] = {}
    for t in _clean_tokens(_tokenizer().cut(text or "")):
        seen.setdefault(t, None)
    return list(seen)


def keyword_tokens(text: str, *, top: int = 12) -> list[str]:
    """The most telling words of a longer text (a ticket), by jieba's TF-IDF, for suggesting articles."""
    _tokenizer()
    import jieba.analyse

    words = jieba.analyse.extract_tags(text or "", topK=top * 2)
    return [t for t in query_tokens(" ".join(words))][:top]


def article_document(article: Article) -> str:
    """The search column: title tokens twice (a title hit outweighs a body hit), keywords, then the body."""
    title = tokenize(article.title)
    return " ".join([*title, *title, *tokenize(article.keywords), *tokenize(article.body)])


def _fts_write(article: Article) -> None:
    """SQLite: replace the article's row in the FTS5 table (PostgreSQL indexes the column itself)."""
    if connection.vendor != "sqlite":
        return
    sqlite_kb_index_ensure()
    with connection.cursor() as cur:
        cur.execute("DELETE FROM service_article_fts WHERE rowid = %s", [article.pk])
        cur.execute(
            "INSERT INTO service_article_fts(rowid, tokens) VALUES (%s, %s)",
            [article.pk, article.search_tokens],
        )


def sqlite_kb_index_ensure(conn: Any = None) -> bool:
    """Create the FTS5 table when missing (a standalone table: a remade article table cannot drop it)."""
    conn = conn or connection
    if conn.vendor != "sqlite":
        return False
    with conn.cursor() as cur:
        cur.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS service_article_fts USING fts5(tokens, tokenize='unicode61')"
        )
    return True


def kb_index_rebuild() -> int:
    """Recompute every article's tokens in the current workspace (after a dictionary change). Returns the count."""
    n = 0
    for article in Article.objects.all().iterator():
        article.search_tokens = article_document(article)
        Article.objects.filter(pk=article.pk).update(search_tokens=article.search_tokens)
        _fts_write(article)
        n += 1
    return n


# --- permissions and cleaning -------------------------------------------------------------------------------------


def may_edit_kb(actor: Membership) -> bool:
    return permissions.can(actor, Module.SERVICE, "edit")


def _require_edit(actor: Membership) -> None:
    if not permissions.can(actor, Module.SERVICE, "view"):
        raise NotFound()
    if not may_edit_kb(actor):
        raise Forbidden()


def _text(value: Any, field: str, limit: int, errors: dict[str, str], *, required: bool = False) -> str:
    text = "" if value is None else str(value).strip()
    if required and not text:
        errors[field] = _("This field is required.")
    elif len(text) > limit:
        errors[field] = _("At most %(n)s characters.") % {"n": limit}
    return text


def _category(value: Any, errors: dict[str, str]) -> ArticleCategory | None:
    if value in (None, "", 0):
        return None
    try:
        return ArticleCategory.objects.get(pk=int(value))
    except (ArticleCategory.DoesNotExist, TypeError, ValueError):
        errors["category_id"] = _("Choose a category of this workspace.")
        return None


# --- categories ---------------------------------------------------------------------------------------------------


def category_create(*, actor: Membership, name: str, parent_id: int | None = None) -> ArticleCategory:
    """Add a knowledge-base category. Refuses an empty or duplicate name, and a parent that is itself nested."""
    _require_edit(actor)
    errors: dict[str, str] = {}
    name = _text(name, "name", 100, errors, required=True)
    parent = None
    if parent_id not in (None, "", 0):
        parent = ArticleCategory.objects.filter(pk=parent_id).first()
        if parent is None:
            errors["parent_id"] = _("Choose a category of this workspace.")
        elif parent.parent_id is not None:
            errors["parent_id"] = _("Categories nest one level deep only.")
    if not errors and ArticleCategory.objects.filter(name=name).exists():
        errors["name"] = _("A category with this name already exists.")
    if errors:
        raise ValidationFailed(fields=errors)
    with transaction.atomic():
        cat = ArticleCategory.objects.create(name=name, parent=parent)
        audit_record(workspace=actor.workspace, actor=actor.user, action="kb_category.create", obj=cat)
    return cat


# --- articles -----------------------------------------------------------------------------------------------------

ARTICLE_FIELDS = ("title", "body", "kind", "category_id", "status", "keywords")


def _clean_article(data: dict[str, Any], current: Article | None) -> dict[str, Any]:
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    if current is None or "title" in data:
        out["title"] = _text(data.get("title"), "title", TITLE_MAX, errors, required=True)
    if current is None or "body" in data:
        out["body"] = _text(data.get("body"), "body", BODY_MAX, errors, required=True)
    if "keywords" in data:
        out["keywords"] = _text(data.get("keywords"), "keywords", KEYWORDS_MAX, errors)
    if "kind" in data or current is None:
        kind = data.get("kind") or ArticleKind.ARTICLE
        if kind not in ArticleKind.values:
            errors["kind"] = _("Type must be article or script.")
        out["kind"] = kind
    if "status" in data or current is None:
        status = data.get("status") or ArticleStatus.DRAFT
        if status not in ArticleStatus.values:
            errors["status"] = _("Status must be draft, published or archived.")
        out["status"] = status
    if "category_id" in data:
        out["category"] = _category(data.get("category_id"), errors)
    if errors:
        raise ValidationFailed(fields=errors)
    return out


def _save_version(article: Article, actor: Membership, note: str = "") -> ArticleVersion:
    return ArticleVersion.objects.create(
        article=article,
        version=article.version,
        title=article.title,
        body=article.body,
        kind=article.kind,
        category=article.category,
        status=article.status,
        keywords=article.keywords,
        note=note[:200],
        edited_by=actor.user,
    )


def article_create(
    *,
    actor: Membership,
    title: str,
    body: str,
    kind: str = ArticleKind.ARTICLE,
    category_id: int | None = None,
    status: str = ArticleStatus.DRAFT,
    keywords: str = "",
) -> Article:
    """Write a new article (version 1) and index it. Refuses an empty title or body, an unknown kind, status or
    category (ValidationFailed naming the field)."""
    _require_edit(actor)
    data = _clean_article(
        dict(title=title, body=body, kind=kind, category_id=category_id, status=status, keywords=keywords),
        None,
    )
    with transaction.atomic():
        article = Article(**data, version=1, created_by=actor.user, updated_by=actor.user)
        if article.status == ArticleStatus.PUBLISHED:
            article.published_at = timezone.now()
        article.search_tokens = article_document(article)
        article.save()
        _save_version(article, actor)
        _fts_write(article)
        audit_record(
            workspace=actor.workspace, actor=actor.user, action="kb_article.create", obj=article,
            after=_snap(article),
        )  # fmt: skip
    return article


def article_update(
    *, actor: Membership, article_id: Any, note: str = "", expected_version: int | None = None, **changes: Any
) -> Article:
    """Edit an article: the new text becomes version n+1 (the earlier ones stay viewable and restorable).

    ``changes`` may hold title, body, kind, category_id, status, keywords. With ``expected_version`` an edit made
    on a stale copy is refused (Conflict) instead of silently overwriting someone else's version. An edit that
    changes nothing writes no version.
    """
    _require_edit(actor)
    unknown = set(changes) - set(ARTICLE_FIELDS)
    if unknown:
        raise ValidationFailed(fields={k: _("Unknown field.") for k in sorted(unknown)})
    data = _clean_article(changes, current=Article())
    with transaction.atomic():
        article = Article.objects.select_for_update().filter(pk=_int_or_none(article_id)).first()
        if article is None:
            raise NotFound()
        if expected_version is not None and expected_version != article.version:
            raise Conflict(
                _("Someone saved a newer version of this article. Reload it and edit again."),
                code="stale_version",
            )
        before = _snap(article)
        changed = {k: v for k, v in data.items() if getattr(article, k) != v}
        if not changed:
            return article
        for k, v in changed.items():
            setattr(article, k, v)
        if changed.get("status") == ArticleStatus.PUBLISHED and article.published_at is None:
            article.published_at = timezone.now()
        article.version += 1
        article.updated_by = actor.user
        article.search_tokens = article_document(article)
        article.save()
        _save_version(article, actor, note)
        _fts_write(article)
        audit_record(
            workspace=actor.workspace, actor=actor.user, action="kb_article.update", obj=article,
            before=before, after=_snap(article),
        )  # fmt: skip
    return article


def article_restore(*, actor: Membership, article_id: Any, version: int) -> Article:
    """Bring back the text of an earlier version as a new version (n+1), keeping the history linear."""
    _require_edit(actor)
    old = ArticleVersion.objects.filter(
        article_id=_int_or_none(article_id), version=_int_or_none(version)
    ).first()
    if old is None:
        raise NotFound()
    return article_update(
        actor=actor,
        article_id=article_id,
        note=_("Restored version %(v)s") % {"v": old.version},
        title=old.title,
        body=old.body,
        kind=old.kind,
        category_id=old.category_id,
        keywords=old.keywords,
    )


def article_delete(*, actor: Membership, article_id: Any) -> None:
    """Remove an article, its versions and its search entry."""
    _require_edit(actor)
    with transaction.atomic():
        article = Article.objects.filter(pk=_int_or_none(article_id)).first()
        if article is None:
            raise NotFound()
        before = _snap(article)
        pk = article.pk
        article.delete()
        if connection.vendor == "sqlite":
            sqlite_kb_index_ensure()
            with connection.cursor() as cur:
                cur.execute("DELETE FROM service_article_fts WHERE rowid = %s", [pk])
        audit_record(
            workspace=actor.workspace, actor=actor.user, action="kb_article.delete",
            object_type="service.article", object_id=str(pk), object_repr=before["title"], before=before,
        )  # fmt: skip


def _snap(article: Article) -> dict[str, Any]:
    return snapshot(article, ["title", "body", "kind", "category", "status", "keywords", "version"])


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# --- canned replies -----------------------------------------------------------------------------------------------

PLACEHOLDERS = ("customer_name", "ticket_no", "agent_name")
_PLACEHOLDER = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")
_ANY_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def _clean_canned(data: dict[str, Any], partial: bool) -> dict[str, Any]:
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    if not partial or "title" in data:
        out["title"] = _text(data.get("title"), "title", 120, errors, required=True)
    if not partial or "body" in data:
        out["body"] = _text(data.get("body"), "body", 10_000, errors, required=True)
        unknown = sorted({m for m in _ANY_PLACEHOLDER.findall(out["body"]) if m not in PLACEHOLDERS})
        if unknown and "body" not in errors:
            errors["body"] = _("Unknown placeholder %(p)s. Use %(known)s.") % {
                "p": ", ".join("{" + u + "}" for u in unknown),
                "known": ", ".join("{" + p + "}" for p in PLACEHOLDERS),
            }
    if "category_id" in data:
        out["category"] = _category(data.get("category_id"), errors)
    if "is_active" in data:
        out["is_active"] = bool(data["is_active"])
    if errors:
        raise ValidationFailed(fields=errors)
    return out


def canned_reply_create(
    *, actor: Membership, title: str, body: str, category_id: int | None = None
) -> CannedReply:
    """Add a canned reply. Refuses a duplicate title and placeholders other than {customer_name}, {ticket_no},
    {agent_name}."""
    _require_edit(actor)
    data = _clean_canned(dict(title=title, body=body, category_id=category_id), partial=False)
    if CannedReply.objects.filter(title=data["title"]).exists():
        raise ValidationFailed(fields={"title": _("A canned reply with this title already exists.")})
    with transaction.atomic():
        reply = CannedReply.objects.create(**data, created_by=actor.user)
        audit_record(workspace=actor.workspace, actor=actor.user, action="canned_reply.create", obj=reply)
    return reply


def canned_reply_update(*, actor: Membership, reply_id: Any, **changes: Any) -> CannedReply:
    """Change a canned reply's title, text, category or active flag."""
    _require_edit(actor)
    data = _clean_canned(changes, partial=True)
    with transaction.atomic():
        reply = CannedReply.objects.select_for_update().filter(pk=_int_or_none(reply_id)).first()
        if reply is None:
            raise NotFound()
        if "title" in data and CannedReply.objects.filter(title=data["title"]).exclude(pk=reply.pk).exists():
            raise ValidationFailed(fields={"title": _("A canned reply with this title already exists.")})
        before = snapshot(reply)
        for k, v in data.items():
            setattr(reply, k, v)
        reply.save()
        audit_record(
            workspace=actor.workspace, actor=actor.user, action="canned_reply.update", obj=reply,
            before=before, after=snapshot(reply),
        )  # fmt: skip
    return reply


def canned_reply_render(reply: CannedReply, *, values: dict[str, str]) -> str:
    """The reply's text with its placeholders filled from ``values`` (a missing value leaves an empty string)."""
    return _PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), "") or ""), reply.body)

"""Knowledge base (知识库) and answer scripts (话术): articles with categories, versions and full-text search,
and canned replies an agent inserts into a ticket reply.

Search: ``Article.search_tokens`` holds the jieba-tokenised title and body (space separated). PostgreSQL searches it
through ``kb_article_tsv_idx`` (GIN over ``to_tsvector('simple', search_tokens)``); SQLite through the FTS5 table
``service_article_fts`` (unicode61 over the same tokens), kept in step by ``services.knowledge``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from guanxi.core.models import TenantModel


class ArticleKind(models.TextChoices):
    ARTICLE = "article", _("Article")
    SCRIPT = "script", _("Answer script")


class ArticleStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PUBLISHED = "published", _("Published")
    ARCHIVED = "archived", _("Archived")


class ArticleCategory(TenantModel):
    """A shelf of the knowledge base (知识分类), e.g. "退换货" or "账单"; one level of nesting under ``parent``."""

    name = models.CharField(_("name"), max_length=100)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="kb_category_unique_name")]
        ordering = ["position", "name", "id"]

    def __str__(self) -> str:
        return self.name


class Article(TenantModel):
    """A knowledge-base article (知识文章) or answer script (话术) in its current version.

    Every edit writes an ``ArticleVersion`` (the full text of that version), so any earlier version can be viewed
    and restored; restoring is itself an edit (version n+1). Only published articles are searched by agents'
    suggestions; drafts are visible to editors.
    """

    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("body"))
    kind = models.CharField(
        _("type"), max_length=10, choices=ArticleKind.choices, default=ArticleKind.ARTICLE
    )
    category = models.ForeignKey(
        ArticleCategory, null=True, blank=True, on_delete=models.SET_NULL, related_name="articles"
    )
    status = models.CharField(
        _("status"), max_length=10, choices=ArticleStatus.choices, default=ArticleStatus.DRAFT
    )
    keywords = models.CharField(_("keywords"), max_length=300, blank=True)
    version = models.PositiveIntegerField(_("version"), default=1)
    search_tokens = models.TextField(blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["workspace", "status", "-updated_at", "-id"], name="kb_article_ws_status_idx"
            ),
            models.Index(fields=["workspace", "category"], name="kb_article_ws_category_idx"),
        ]

    def __str__(self) -> str:
        return self.title


class ArticleVersion(TenantModel):
    """One saved version of an article (文章版本): the text as it was after that edit, who made it and when."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    body = models.TextField()
    kind = models.CharField(max_length=10, choices=ArticleKind.choices)
    category = models.ForeignKey(
        ArticleCategory, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=10, choices=ArticleStatus.choices)
    keywords = models.CharField(max_length=300, blank=True)
    note = models.CharField(max_length=200, blank=True)
    edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "article", "version"], name="kb_version_unique")
        ]
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"{self.title} v{self.version}"


class CannedReply(TenantModel):
    """A canned reply (快捷回复): text with placeholders ({customer_name}, {ticket_no}, {agent_name}) that an
    agent inserts into a ticket reply."""

    title = models.CharField(_("title"), max_length=120)
    body = models.TextField(_("text"))
    category = models.ForeignKey(
        ArticleCategory, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "title"], name="kb_canned_unique_title")]
        ordering = ["title", "id"]

    def __str__(self) -> str:
        return self.title

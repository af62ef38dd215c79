"""Duplicates (重复客户): scans of a workspace, the pairs they find, and the merges that resolve them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from guanxi.core.models import TenantModel
from guanxi.customers.models.core import Customer


class DuplicateScanStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class DuplicateScan(TenantModel):
    """One run of the whole-workspace duplicate scan (查重扫描), a background job with its progress.

    ``stats`` holds the figures of the run: customers scanned, blocks and pairs per blocking key, pairs kept.
    """

    status = models.CharField(
        max_length=10, choices=DuplicateScanStatus.choices, default=DuplicateScanStatus.QUEUED
    )
    progress = models.PositiveSmallIntegerField(default=0)  # percent
    phase = models.CharField(max_length=40, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    candidates_found = models.PositiveIntegerField(default=0)
    stats = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["workspace", "-created_at"], name="dedupescan_ws_created_idx")]

    def __str__(self) -> str:
        return f"scan {self.pk} ({self.status})"


class DuplicateStatus(models.TextChoices):
    OPEN = "open", _("Open")
    DISMISSED = "dismissed", _("Not a duplicate")
    MERGED = "merged", _("Merged")


class DuplicateCandidate(TenantModel):
    """A pair of customers that are probably the same (疑似重复): score 0..1 and the reasons, for review.

    ``customer_a`` always has the smaller id, so a pair is stored once. A re-scan replaces the open pairs and
    leaves dismissed ones dismissed.
    """

    customer_a = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    customer_b = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    score = models.FloatField()
    reasons = models.JSONField(default=list)  # ["phone", "email", "pinyin", "traditional", "fuzzy_name", ...]
    status = models.CharField(max_length=10, choices=DuplicateStatus.choices, default=DuplicateStatus.OPEN)
    scan = models.ForeignKey(
        DuplicateScan, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "customer_a", "customer_b"], name="duplicatecandidate_unique_pair"
            ),
            models.CheckConstraint(
                condition=Q(customer_a__lt=F("customer_b")), name="duplicatecandidate_a_lt_b"
            ),
        ]
        indexes = [
            # the review queue: open pairs, best first (keyset on score, id)
            models.Index(fields=["workspace", "status", "-score", "-id"], name="dupcand_queue_idx"),
            models.Index(fields=["workspace", "customer_b"], name="dupcand_ws_b_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_a_id}~{self.customer_b_id} {self.score:.2f}"


class CustomerMerge(TenantModel):
    """A merge of two customers (客户合并), kept so that it can be undone.

    ``survivor_before``/``merged_before`` snapshot both customers before the merge, ``survivor_after`` the survivor
    right after it; ``moved`` lists, per relation ("app.model.field"), the ids of the rows moved from the merged
    customer to the survivor; ``flags`` the primary flags the merge changed. Undo moves exactly those rows back.
    """

    survivor = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    merged = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    choices = models.JSONField(default=dict)
    survivor_before = models.JSONField(default=dict)
    survivor_after = models.JSONField(default=dict)
    merged_before = models.JSONField(default=dict)
    moved = models.JSONField(default=dict)
    flags = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "survivor"], name="customermerge_ws_survivor_idx"),
            models.Index(fields=["workspace", "merged"], name="customermerge_ws_merged_idx"),
        ]

    def __str__(self) -> str:
        return f"merge {self.merged_id} -> {self.survivor_id}"

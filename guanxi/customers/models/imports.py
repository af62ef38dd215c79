"""Import jobs (批量导入): one uploaded file, its column mapping, its progress checkpoint and its report.

The job is the unit of resumability: ``next_row`` (the first data row not yet processed) and the counts are
committed in the same transaction as the chunk of customers they describe, so a worker killed half-way resumes
at the checkpoint with no row lost or doubled. Rejected rows are kept in ``ImportRejectedRow`` (also written with
their chunk) and turned into a downloadable CSV at the end.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from guanxi.core.models import TenantModel


class ImportStatus(models.TextChoices):
    UPLOADED = "uploaded", _("Uploaded")
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class DuplicatePolicy(models.TextChoices):
    SKIP = "skip", _("Skip duplicates")
    UPDATE = "update", _("Update the existing customer")
    CREATE = "create", _("Create a new customer anyway")


class ImportJob(TenantModel):
    """An import of customers from one file (导入任务): CSV, XLSX or vCard, with mapping, progress and report."""

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=10, choices=ImportStatus.choices, default=ImportStatus.UPLOADED)
    file_name = models.CharField(max_length=255)  # as uploaded, for display
    file_path = models.CharField(max_length=500)  # under DATA_DIR/imports/
    file_size = models.BigIntegerField(default=0)
    file_sha256 = models.CharField(max_length=64)
    file_format = models.CharField(max_length=10)  # csv | xlsx | vcard
    layout = models.CharField(max_length=20, blank=True)  # generic | google | outlook | vcard
    encoding = models.CharField(max_length=20, blank=True)  # utf-8, utf-8-sig, gb18030 (CSV only)
    delimiter = models.CharField(max_length=1, blank=True)
    headers = models.JSONField(default=list)
    mapping = models.JSONField(
        default=dict
    )  # column index (as str) -> target field ("name", "custom:vip", …)
    on_duplicate = models.CharField(
        max_length=10, choices=DuplicatePolicy.choices, default=DuplicatePolicy.SKIP
    )
    total_rows = models.PositiveIntegerField(default=0)
    next_row = models.PositiveIntegerField(default=0)  # checkpoint: data rows processed so far
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    rejected_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)  # why the job failed or was refused
    rejected_path = models.CharField(max_length=500, blank=True)  # the rejected-rows CSV, once finished
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["workspace", "-created_at"], name="importjob_ws_created_idx")]

    def __str__(self) -> str:
        return self.file_name

    @property
    def percent(self) -> int:
        if not self.total_rows:
            return 100 if self.status == ImportStatus.DONE else 0
        return min(100, round(100 * self.next_row / self.total_rows))


class ImportRejectedRow(TenantModel):
    """A row of an import that was not imported, with the reason (written in the same transaction as its chunk)."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="rejected_rows")
    row_number = models.PositiveIntegerField()  # as a spreadsheet shows it: the header is row 1
    field = models.CharField(max_length=60, blank=True)
    reason = models.CharField(max_length=500)
    values = models.JSONField(default=list)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "row_number"], name="importrejectedrow_unique_row")
        ]

    def __str__(self) -> str:
        return f"{self.row_number}: {self.reason}"

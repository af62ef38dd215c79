"""Base classes for tenant-owned models. No concrete models live here.

Every tenant-owned row carries ``workspace_id`` (architecture rule 1). ``TenantModel.objects`` is scoped to the
current workspace (``guanxi.core.context``) and refuses to run without one; ``all_workspaces`` is the explicit,
greppable escape hatch for system jobs, migrations and tests.
"""

from __future__ import annotations

from typing import Any

from django.db import models

from guanxi.core.context import get_current_workspace, require_workspace


class WorkspaceScopedQuerySet(models.QuerySet):
    def create(self, **kwargs: Any) -> Any:
        kwargs.setdefault("workspace", require_workspace())
        return super().create(**kwargs)


class WorkspaceScopedManager(models.Manager.from_queryset(WorkspaceScopedQuerySet)):  # type: ignore[misc]
    """Rows of the current workspace only. Raises NoWorkspaceContext when there is none."""

    def get_queryset(self) -> WorkspaceScopedQuerySet:
        ws = require_workspace()
        return super().get_queryset().filter(workspace_id=ws.pk)


class TenantModel(models.Model):
    """Abstract base of every tenant-owned model: a ``workspace`` and the two managers."""

    workspace = models.ForeignKey(
        "workspaces.Workspace", on_delete=models.CASCADE, related_name="+", editable=False
    )

    objects = WorkspaceScopedManager()
    all_workspaces = models.Manager()

    class Meta:
        abstract = True
        base_manager_name = "all_workspaces"
        default_manager_name = "objects"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.workspace_id is None:
            ws = get_current_workspace()
            if ws is None:
                require_workspace()
            self.workspace = ws
        super().save(*args, **kwargs)


class TimestampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

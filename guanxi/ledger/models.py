"""The audit trail (审计日志): who changed what, when, from which request."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from guanxi.core.models import TenantModel


class AuditEvent(TenantModel):
    """One write by a service: actor, action, object, before/after of changed fields, request id and time.

    Written in the same transaction as the change it records, so the trail never misses a committed change and
    never records one that rolled back.
    """

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True)  # kept when the user is deleted
    action = models.CharField(max_length=60)  # e.g. "customer.create"
    object_type = models.CharField(max_length=60)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    changes = models.JSONField(default=dict)  # {"field": [before, after]}
    request_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["workspace", "-created_at", "-id"], name="audit_ws_time_idx"),
            models.Index(fields=["workspace", "object_type", "object_id"], name="audit_ws_object_idx"),
            models.Index(fields=["workspace", "actor", "-created_at"], name="audit_ws_actor_idx"),
        ]

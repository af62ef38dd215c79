"""Revoked customer-portal links. The links themselves are signed tokens and are not stored
(guanxi/service/portal.py); revoking them stores one time per customer: every link issued before it is refused."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from guanxi.core.models import TenantModel


class PortalRevocation(TenantModel):
    """Links to ``customer``'s portal issued at or before ``revoked_at`` no longer open it."""

    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    revoked_at = models.DateTimeField()
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "customer"], name="portal_revocation_unique_customer"
            ),
        ]

    def __str__(self) -> str:
        return f"portal links of customer {self.customer_id} revoked at {self.revoked_at:%Y-%m-%d %H:%M}"

"""Complaints (客户投诉): the complaint side of a ticket of type "complaint", and crisis alerts."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from guanxi.core.models import TenantModel


class ComplaintClass(models.TextChoices):
    PRODUCT = "product", _("Product quality")
    SERVICE = "service", _("Service")
    ATTITUDE = "attitude", _("Staff attitude")
    DELIVERY = "delivery", _("Delivery")
    BILLING = "billing", _("Billing")
    OTHER = "other", _("Other")


class Severity(models.TextChoices):
    MINOR = "minor", _("Minor")
    MAJOR = "major", _("Major")
    CRITICAL = "critical", _("Critical")


class RootCause(models.TextChoices):
    PEOPLE = "people", _("People")
    PROCESS = "process", _("Process")
    PRODUCT = "product", _("Product")
    SUPPLIER = "supplier", _("Supplier")
    SYSTEM = "system", _("System")
    OTHER = "other", _("Other")


class Complaint(TenantModel):
    """A complaint (客户投诉) on a ticket: its classification and severity, the product concerned, the root cause
    (a category and the 5-why text), the corrective action with its owner and due date, the result reported back
    to the customer and the customer's confirmation."""

    ticket = models.OneToOneField("service.Ticket", on_delete=models.CASCADE, related_name="complaint")
    classification = models.CharField(_("classification"), max_length=20, choices=ComplaintClass.choices)
    severity = models.CharField(
        _("severity"), max_length=10, choices=Severity.choices, default=Severity.MINOR
    )
    product = models.CharField(_("product"), max_length=200, blank=True)
    root_cause = models.CharField(_("root cause"), max_length=20, choices=RootCause.choices, blank=True)
    root_cause_text = models.TextField(_("root cause analysis (5 whys)"), blank=True)
    action = models.TextField(_("corrective action"), blank=True)
    action_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action_due = models.DateField(_("action due"), null=True, blank=True)
    action_done_at = models.DateTimeField(null=True, blank=True)
    result = models.TextField(_("result reported to the customer"), blank=True)
    result_reported_at = models.DateTimeField(null=True, blank=True)
    customer_confirmed_at = models.DateTimeField(null=True, blank=True)
    customer_satisfied = models.BooleanField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["workspace", "created_at"], name="complaint_ws_created_idx")]

    def __str__(self) -> str:
        return f"complaint on #{self.ticket_id}"


class CrisisAlert(TenantModel):
    """A crisis warning (危机预警): a category's complaints in a week far above its recent weeks. One per category
    and week (the unique constraint keeps the daily check idempotent)."""

    category = models.ForeignKey("service.TicketCategory", null=True, blank=True, on_delete=models.CASCADE)
    week_start = models.DateField()
    count = models.PositiveIntegerField()
    baseline_mean = models.DecimalField(max_digits=10, decimal_places=2)
    baseline_sd = models.DecimalField(max_digits=10, decimal_places=2)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "category", "week_start"], name="crisisalert_unique_week"
            )
        ]

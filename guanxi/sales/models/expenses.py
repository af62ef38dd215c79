"""Expense claims (报销): a salesperson's claim with items and receipts, approved or rejected by a manager."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from guanxi.core.models import TenantModel


class ClaimStatus(models.TextChoices):
    DRAFT = "draft", pgettext_lazy("expense claim", "Draft")
    SUBMITTED = "submitted", pgettext_lazy("expense claim", "Submitted")
    APPROVED = "approved", pgettext_lazy("expense claim", "Approved")
    REJECTED = "rejected", pgettext_lazy("expense claim", "Rejected")
    PAID = "paid", pgettext_lazy("expense claim", "Paid")


class ExpenseCategory(models.TextChoices):
    TRAVEL = "travel", _("Travel")
    LODGING = "lodging", _("Lodging")
    MEALS = "meals", _("Meals and entertainment")
    TRANSPORT = "transport", _("Local transport")
    GIFTS = "gifts", _("Client gifts")
    OFFICE = "office", _("Office supplies")
    OTHER = "other", _("Other")


class ExpenseClaim(TenantModel):
    """An expense claim (报销单): filed by ``owner``, edited only as a draft, then submitted for a manager's decision.

    ``total`` is the exact sum of the items' amounts (one currency per claim), kept by the services.
    """

    number = models.CharField(_("number"), max_length=30)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("claimant")
    )
    title = models.CharField(_("title"), max_length=200)
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    total = models.DecimalField(_("total"), max_digits=18, decimal_places=2, default=0)
    status = models.CharField(
        _("status"), max_length=12, choices=ClaimStatus.choices, default=ClaimStatus.DRAFT
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_comment = models.CharField(_("comment"), max_length=500, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "number"], name="expenseclaim_unique_number")
        ]
        indexes = [
            models.Index(fields=["workspace", "owner", "-created_at"], name="expenseclaim_owner_idx"),
            models.Index(fields=["workspace", "status", "-created_at"], name="expenseclaim_status_idx"),
        ]

    def __str__(self) -> str:
        return self.number


class ExpenseItem(TenantModel):
    """One item (报销明细) of a claim: what was spent, when, on what, optionally for which customer/opportunity."""

    claim = models.ForeignKey(ExpenseClaim, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField(default=0)
    spent_on = models.DateField(_("date"))
    category = models.CharField(_("category"), max_length=20, choices=ExpenseCategory.choices)
    amount = models.DecimalField(_("amount"), max_digits=18, decimal_places=2)
    description = models.CharField(_("description"), max_length=300, blank=True)
    customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    opportunity = models.ForeignKey(
        "sales.Opportunity", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="expenseitem_amount_positive")
        ]


class ExpenseReceipt(TenantModel):
    """A receipt (票据) uploaded to a claim: the file lives in Django's default storage (the data folder), served
    only through the claim's access check, never as a public URL."""

    claim = models.ForeignKey(ExpenseClaim, on_delete=models.CASCADE, related_name="receipts")
    file = models.FileField(max_length=300)
    original_name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["uploaded_at", "id"]

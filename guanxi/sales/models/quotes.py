"""Quotes (报价单): versioned line items with discounts and VAT, sent as a PDF, accepted or rejected."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from guanxi.core.models import TenantModel
from guanxi.sales.models.pipelines import DEFAULT_CURRENCY


class QuoteStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SENT = "sent", _("Sent")
    ACCEPTED = "accepted", _("Accepted")
    REJECTED = "rejected", _("Rejected")
    SUPERSEDED = "superseded", _("Superseded")


class Quote(TenantModel):
    """One version of a quote (报价单) to a customer, optionally for an opportunity.

    All versions share ``number``; editing a sent quote makes version n+1 and marks n superseded. Totals are
    stored sums of the lines (exact decimals, each line rounded half-up to 0.01).
    """

    number = models.CharField(_("number"), max_length=30)
    version = models.PositiveIntegerField(_("version"), default=1)
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="+")
    opportunity = models.ForeignKey(
        "sales.Opportunity", null=True, blank=True, on_delete=models.SET_NULL, related_name="quotes"
    )
    title = models.CharField(_("title"), max_length=200)
    status = models.CharField(
        _("status"), max_length=12, choices=QuoteStatus.choices, default=QuoteStatus.DRAFT
    )
    currency = models.CharField(_("currency"), max_length=3, default=DEFAULT_CURRENCY)
    valid_until = models.DateField(_("valid until"), null=True, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    email = models.EmailField(_("send to"), blank=True)
    subtotal = models.DecimalField(_("subtotal"), max_digits=18, decimal_places=2, default=0)
    discount_total = models.DecimalField(_("discount"), max_digits=18, decimal_places=2, default=0)
    tax_total = models.DecimalField(_("tax"), max_digits=18, decimal_places=2, default=0)
    total = models.DecimalField(_("total"), max_digits=18, decimal_places=2, default=0)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "number", "version"], name="quote_unique_version")
        ]
        indexes = [
            models.Index(fields=["workspace", "-created_at", "-id"], name="quote_ws_created_idx"),
            models.Index(fields=["workspace", "customer"], name="quote_ws_customer_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.number} v{self.version}"


class QuoteLine(TenantModel):
    """A line of a quote: product, quantity (> 0), unit price, discount %, VAT rate and the computed amounts."""

    quote = models.ForeignKey(Quote, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField(default=0)
    product = models.ForeignKey(
        "sales.Product", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    description = models.CharField(_("description"), max_length=200)
    unit = models.CharField(_("unit"), max_length=20, blank=True)
    quantity = models.DecimalField(_("quantity"), max_digits=14, decimal_places=3)
    unit_price = models.DecimalField(_("unit price"), max_digits=18, decimal_places=2)
    discount_pct = models.DecimalField(_("discount (%)"), max_digits=5, decimal_places=2, default=0)
    tax_rate = models.DecimalField(_("tax rate (%)"), max_digits=5, decimal_places=2, default=13)
    amount = models.DecimalField(max_digits=18, decimal_places=2)  # quantity x unit price
    discount_amount = models.DecimalField(max_digits=18, decimal_places=2)
    tax_amount = models.DecimalField(max_digits=18, decimal_places=2)
    total = models.DecimalField(max_digits=18, decimal_places=2)

    class Meta:
        ordering = ["position", "id"]

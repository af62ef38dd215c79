"""Products (产品), price lists (价格表) and discount rules (折扣规则) with their approvals (折扣审批)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from guanxi.core.models import TenantModel
from guanxi.sales.models.pipelines import DEFAULT_CURRENCY

# Chinese VAT (增值税) rates offered in forms; any other rate from 0 to 100 % may be entered as custom.
VAT_RATES = ("13.00", "9.00", "6.00", "0.00")


class Product(TenantModel):
    """A product or service the workspace sells (产品): SKU unique per workspace, unit, VAT rate, list price."""

    sku = models.CharField(_("SKU"), max_length=64)
    name = models.CharField(_("name"), max_length=200)
    unit = models.CharField(_("unit"), max_length=20, default="件")
    tax_rate = models.DecimalField(_("tax rate (%)"), max_digits=5, decimal_places=2, default=13)
    list_price = models.DecimalField(_("list price"), max_digits=18, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3, default=DEFAULT_CURRENCY)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "sku"], name="product_unique_sku")]
        ordering = ["sku", "id"]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class PriceListBasis(models.TextChoices):
    TIER = "tier", _("Customer tier")
    REGION = "region", _("Region")


class PriceList(TenantModel):
    """A price list (价格表) for one customer tier (``customers.Customer.level``) or one region (province)."""

    name = models.CharField(_("name"), max_length=100)
    basis = models.CharField(_("applies by"), max_length=10, choices=PriceListBasis.choices)
    value = models.CharField(_("tier or region"), max_length=50)
    currency = models.CharField(_("currency"), max_length=3, default=DEFAULT_CURRENCY)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="pricelist_unique_name")]
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class PriceListItem(TenantModel):
    """One product's price on a price list."""

    price_list = models.ForeignKey(PriceList, on_delete=models.CASCADE, related_name="items")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    price = models.DecimalField(_("price"), max_digits=18, decimal_places=2)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["price_list", "product"], name="pricelistitem_unique_product")
        ]


class DiscountRule(TenantModel):
    """The largest line discount (%) a role may give without a manager's approval (折扣权限)."""

    role = models.CharField(_("role"), max_length=20)
    max_discount = models.DecimalField(_("maximum discount (%)"), max_digits=5, decimal_places=2)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "role"], name="discountrule_unique_role")]
        ordering = ["role"]


class ApprovalStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


class DiscountApproval(TenantModel):
    """A request for a manager's approval (折扣审批) of a quote version whose discount exceeds the rules."""

    quote = models.ForeignKey("sales.Quote", on_delete=models.CASCADE, related_name="approvals")
    max_discount = models.DecimalField(max_digits=5, decimal_places=2)
    status = models.CharField(
        _("status"), max_length=10, choices=ApprovalStatus.choices, default=ApprovalStatus.PENDING
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    request_comment = models.CharField(_("comment"), max_length=500, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decision_comment = models.CharField(_("comment"), max_length=500, blank=True)
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [
            models.Index(fields=["workspace", "status", "requested_at"], name="approval_ws_status_idx")
        ]

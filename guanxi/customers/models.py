"""Customers (客户): the heart of the CRM. The foundation keeps the core fields; the customer issue extends it."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from guanxi.core.models import TenantModel


class CustomerKind(models.TextChoices):
    PERSON = "person", _("Person")
    COMPANY = "company", _("Company")


class Customer(TenantModel):
    """A customer (客户): a person (B2C) or a company (B2B), owned by one member."""

    kind = models.CharField(
        _("type"), max_length=10, choices=CustomerKind.choices, default=CustomerKind.PERSON
    )
    name = models.CharField(_("name"), max_length=200)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    email = models.EmailField(_("email"), blank=True)
    province = models.CharField(_("province"), max_length=50, blank=True)
    city = models.CharField(_("city"), max_length=50, blank=True)
    industry = models.CharField(_("industry"), max_length=50, blank=True)
    source = models.CharField(_("source"), max_length=30, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("owner"),
    )
    notes = models.TextField(_("notes"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            # keyset pagination of the list, newest first
            models.Index(fields=["workspace", "-created_at", "-id"], name="customer_ws_created_idx"),
            models.Index(fields=["workspace", "owner"], name="customer_ws_owner_idx"),
            models.Index(fields=["workspace", "phone"], name="customer_ws_phone_idx"),
            # name-prefix search in the customer list (a range scan: name >= q AND name < q || U+10FFFF)
            models.Index(fields=["workspace", "name"], name="customer_ws_name_idx"),
        ]

    def __str__(self) -> str:
        return self.name

"""Leads (线索) and the public web forms that capture them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from guanxi.core.models import TenantModel


class LeadStatus(models.TextChoices):
    NEW = "new", pgettext_lazy("lead status", "New")
    WORKING = "working", pgettext_lazy("lead status", "Working")
    QUALIFIED = "qualified", pgettext_lazy("lead status", "Qualified")
    DISQUALIFIED = "disqualified", pgettext_lazy("lead status", "Disqualified")
    CONVERTED = "converted", pgettext_lazy("lead status", "Converted")


class LeadSource(models.TextChoices):
    """Where a lead came from (线索来源)."""

    WEB_FORM = "web_form", _("Web form")
    API = "api", _("API")
    MANUAL = "manual", _("Entered by hand")
    IMPORT = "import", _("Import")
    EVENT = "event", _("Event")
    REFERRAL = "referral", _("Referral")
    OTHER = "other", _("Other")


class Lead(TenantModel):
    """A lead (销售线索): a person who may become a customer, worked by an owner until qualified or disqualified.

    A qualified lead is converted (``lead_convert``) into a customer (plus a contact at a company customer when a
    company is given) and an opportunity; ``customer``/``opportunity`` then point at what it became.
    """

    name = models.CharField(_("name"), max_length=200)
    company = models.CharField(_("company"), max_length=200, blank=True)
    title = models.CharField(_("job title"), max_length=100, blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)  # E.164 when it parsed, else as typed
    email = models.EmailField(_("email"), blank=True)  # lower case (customers.normalize)
    province = models.CharField(_("province"), max_length=50, blank=True)
    city = models.CharField(_("city"), max_length=50, blank=True)
    industry = models.CharField(_("industry"), max_length=50, blank=True)
    source = models.CharField(
        _("source"), max_length=30, choices=LeadSource.choices, default=LeadSource.MANUAL
    )
    status = models.CharField(_("status"), max_length=20, choices=LeadStatus.choices, default=LeadStatus.NEW)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("owner"),
    )
    disqualify_reason = models.CharField(_("disqualify reason"), max_length=500, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    form = models.ForeignKey(
        "sales.LeadCaptureForm", null=True, blank=True, on_delete=models.SET_NULL, related_name="leads"
    )
    customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    opportunity = models.ForeignKey(
        "sales.Opportunity", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    converted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            # the lead list, newest first, keyset on (created_at, id)
            models.Index(fields=["workspace", "-created_at", "-id"], name="lead_ws_created_idx"),
            # "by load" assignment counts open leads per owner
            models.Index(fields=["workspace", "owner", "status"], name="lead_ws_owner_status_idx"),
            models.Index(fields=["workspace", "status", "-created_at"], name="lead_ws_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.company})" if self.company else self.name

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_LEAD_STATUSES


OPEN_LEAD_STATUSES = (LeadStatus.NEW, LeadStatus.WORKING, LeadStatus.QUALIFIED)


class LeadCaptureForm(TenantModel):
    """A lead-capture web form (线索收集表单) a workspace embeds on its own site.

    The public address ``/f/leads/<token>/`` carries the form's public token; posts are accepted only from this
    site or ``allowed_origins`` (e.g. "https://www.example.cn"), with a honeypot, a minimum fill time and a
    per-IP rate limit against spam.
    """

    name = models.CharField(_("name"), max_length=100)
    token = models.CharField(max_length=64, unique=True)  # public by design: it is in the embed snippet
    is_active = models.BooleanField(_("active"), default=True)
    allowed_origins = models.JSONField(default=list, blank=True)
    ask_company = models.BooleanField(_("ask for the company"), default=True)
    thank_you = models.CharField(_("thank-you message"), max_length=300, blank=True)
    default_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

"""Field visits (上门服务): a technician's visit for a ticket in a time slot, checked in and out on site, with the
parts used and the customer's sign-off."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from guanxi.core.models import TenantModel


class VisitStatus(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")
    ON_SITE = "on_site", _("On site")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


ACTIVE_VISIT_STATUSES = (VisitStatus.SCHEDULED, VisitStatus.ON_SITE)


class FieldVisit(TenantModel):
    """A field visit (上门服务): a technician goes to the customer for a ticket in a time slot (``slot_start`` to
    ``slot_end``), checks in on arrival and out on leaving (``checked_in_at`` / ``checked_out_at``), records the
    result and the parts used (``parts_used``: a list of {"name", "quantity"}), and the customer signs off
    (``signed_by`` with an optional signature image, ``signature``; photos go to the ticket's attachments)."""

    ticket = models.ForeignKey("service.Ticket", on_delete=models.CASCADE, related_name="visits")
    technician = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("technician")
    )
    slot_start = models.DateTimeField(_("from"))
    slot_end = models.DateTimeField(_("until"))
    address = models.CharField(_("address"), max_length=300, blank=True)
    note = models.TextField(_("note for the technician"), blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=VisitStatus.choices, default=VisitStatus.SCHEDULED
    )
    checked_in_at = models.DateTimeField(_("checked in"), null=True, blank=True)
    checked_out_at = models.DateTimeField(_("checked out"), null=True, blank=True)
    result = models.TextField(_("result"), blank=True)
    parts_used = models.JSONField(default=list, blank=True)
    signed_by = models.CharField(_("signed off by"), max_length=100, blank=True)
    signed_at = models.DateTimeField(null=True, blank=True)
    signature = models.ForeignKey(
        "service.TicketAttachment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    cancel_reason = models.CharField(_("reason"), max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slot_start", "id"]
        indexes = [
            # a technician's schedule (and the double-booking check)
            models.Index(fields=["workspace", "technician", "slot_start"], name="visit_ws_tech_slot_idx"),
            models.Index(fields=["workspace", "slot_start"], name="visit_ws_slot_idx"),
        ]

    def __str__(self) -> str:
        return f"visit {self.pk} for #{self.ticket_id}"

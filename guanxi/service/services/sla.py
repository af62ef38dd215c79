"""Service levels on tickets: pick the policy, compute the deadlines in business time, pause while pending."""

from __future__ import annotations

import datetime as dt

from guanxi.service.models import Ticket


def ticket_apply_sla(ticket: Ticket, *, now: dt.datetime) -> None:
    """Set the ticket's SLA policy and deadlines (not saved). Runs inside the caller's transaction."""


def ticket_sla_pause(ticket: Ticket, *, now: dt.datetime) -> None:
    """Stop the SLA clock (the ticket waits on the customer). Not saved."""
    ticket.sla_paused_at = now


def ticket_sla_resume(ticket: Ticket, *, now: dt.datetime) -> None:
    """Restart the SLA clock. Not saved."""
    ticket.sla_paused_at = None

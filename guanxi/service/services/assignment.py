"""Ticket assignment: rules, round-robin, by skill and load."""

from __future__ import annotations

from guanxi.service.models import Ticket


def ticket_pick_assignee(ticket: Ticket) -> None:
    """Choose an assignee (and team) for a new ticket by the assignment rules. Not saved."""

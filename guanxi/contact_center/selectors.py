"""Reads of the agent console: my offers with their screen pop (来电弹出), the contacts I hold with their messages."""

from __future__ import annotations

import contextlib
from typing import Any

from django.urls import reverse
from django.utils import timezone

from guanxi.contact_center import routing
from guanxi.contact_center.models import (
    Conversation,
    ConversationMessage,
    Reservation,
    ReservationStatus,
    Task,
    TaskStatus,
)
from guanxi.contact_center.services import customer_match
from guanxi.core.errors import NotFound
from guanxi.customers.models import Customer
from guanxi.customers.normalize import InvalidValue, normalize_phone
from guanxi.customers.privacy import present_customer
from guanxi.customers.selectors import get_customer_for
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module

MESSAGES_SHOWN = 50


def my_offers(actor: Membership) -> list[Reservation]:
    """The agent's open offers, soonest to expire first (one query)."""
    return list(
        Reservation.objects.filter(agent__user_id=actor.user_id, status=ReservationStatus.PENDING)
        .select_related("task", "task__conversation", "task__queue")
        .order_by("expires_at", "id")[:20]
    )


def my_tasks(actor: Membership) -> list[Task]:
    """The contacts the agent holds (assigned or in wrap-up), oldest first, each with its last messages."""
    tasks = list(
        Task.objects.filter(
            agent__user_id=actor.user_id, status__in=[TaskStatus.ASSIGNED, TaskStatus.WRAPPING]
        )
        .select_related("conversation", "customer")
        .order_by("assigned_at", "id")[:20]
    )
    for t in tasks:
        t.shown_messages = conversation_messages(t.conversation) if t.conversation_id else []
    return tasks


def conversation_messages(conv: Conversation) -> list[ConversationMessage]:
    rows = list(
        ConversationMessage.objects.filter(conversation_id=conv.pk)
        .select_related("author")
        .order_by("-id")[:MESSAGES_SHOWN]
    )
    return rows[::-1]


def _who(task: Task) -> dict[str, str]:
    """What the channel told us about the contact: name and address (phone / email / chat id)."""
    attrs = task.attributes or {}
    conv = task.conversation
    address = (conv.address if conv else "") or str(attrs.get("phone") or attrs.get("email") or "")
    name = (conv.contact_name if conv else "") or str(attrs.get("name") or "")
    return {"name": name, "address": address}


def _customer_for_task(task: Task) -> Customer | None:
    cid = task.customer_id or (task.conversation.customer_id if task.conversation_id else None)
    if cid:
        return Customer.objects.filter(pk=cid).first()
    return customer_match(_who(task)["address"])


def screen_pop(actor: Membership, task: Task) -> dict[str, Any]:
    """The customer card shown with an offer: the customer as the agent may see them (personal fields masked by
    role), value tier, open tickets, last orders and the link to the 360 page; or, for an unknown contact, what the
    channel told us, to prefill the "create customer" form."""
    who = _who(task)
    customer = _customer_for_task(task)
    if customer is not None:
        try:
            customer = get_customer_for(actor, customer.merged_into_id or customer.pk)
        except NotFound:
            return {
                "hidden": True,
                "who": who,
            }  # a customer outside the agent's view scope: say so, show nothing
        return {"customer": customer_card(actor, customer), "who": who}
    prefill = {"name": who["name"], "phone": "", "email": ""}
    if "@" in who["address"]:
        prefill["email"] = who["address"]
    elif who["address"]:
        with contextlib.suppress(InvalidValue):  # not a phone number: the agent types one
            prefill["phone"] = normalize_phone(who["address"]).e164
    return {"customer": None, "who": who, "prefill": prefill}


def customer_card(actor: Membership, customer: Customer) -> dict[str, Any]:
    from guanxi.analytics.selectors import customer_profile
    from guanxi.sales.models import Order
    from guanxi.service.models import Ticket
    from guanxi.service.models.tickets import OPEN_TICKET_STATUSES

    card = present_customer(actor, customer)
    card["url"] = reverse("customers:detail", args=[customer.pk])
    profile = customer_profile(actor=actor, customer=customer) or {}
    card["tier"] = (profile.get("tier") or {}).get("label", "")
    card["tickets"] = (
        list(
            Ticket.objects.filter(customer_id=customer.pk, status__in=OPEN_TICKET_STATUSES)
            .order_by("-id")
            .values("id", "subject", "status")[:5]
        )
        if permissions.can(actor, Module.SERVICE, "view")
        else None
    )
    card["orders"] = (
        list(
            Order.objects.filter(customer_id=customer.pk)
            .order_by("-ordered_at", "-id")
            .values("id", "number", "total", "currency", "ordered_at")[:3]
        )
        if permissions.can(actor, Module.SALES, "view", owner_id=customer.owner_id)
        else None
    )
    return card


def console_state(actor: Membership) -> dict[str, Any]:
    """Everything the console shows: the agent, offers with screen pop and seconds left, held contacts."""
    agent = routing.agent_for(actor)
    now = timezone.now()
    offers = my_offers(actor)
    for o in offers:
        o.pop = screen_pop(actor, o.task)
        o.seconds_left = max(0, int((o.expires_at - now).total_seconds()))
    tasks = my_tasks(actor)
    for t in tasks:
        t.pop = screen_pop(actor, t)
    return {"agent": agent, "offers": offers, "tasks": tasks}

"""Ticket assignment: the first matching rule routes a new ticket to a team and an agent, by round-robin or by least
load, among available agents with the rule's skill who are under their load cap.

Correct under concurrency: the candidate agents' rows are locked (SELECT … FOR UPDATE, in id order) before their
loads are counted and one is chosen, so two tickets created at once cannot both go to the same "least loaded" or
"next in turn" agent past the cap; the second waits for the first's commit.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core.errors import NotFound, ValidationFailed
from guanxi.ledger.services import audit_record, snapshot
from guanxi.service.models import OPEN_TICKET_STATUSES, AssignMethod, ServiceAgent, Ticket, TicketRule
from guanxi.service.services.calendars import require_service_admin
from guanxi.workspaces.models import Membership


def rule_for(ticket: Ticket) -> TicketRule | None:
    for rule in TicketRule.objects.filter(is_active=True).order_by("position", "id"):
        if rule.category_id and rule.category_id != ticket.category_id:
            continue
        if rule.channel and rule.channel != ticket.channel:
            continue
        if rule.priority and rule.priority != ticket.priority:
            continue
        if rule.type and rule.type != ticket.type:
            continue
        return rule
    return None


def ticket_pick_assignee(ticket: Ticket) -> None:
    """Choose team and assignee for a new ticket by the rules (not saved; runs in the caller's transaction). No
    matching rule, or no agent free: the ticket stays unassigned in its queue."""
    rule = rule_for(ticket)
    if rule is None:
        return
    if rule.team_id and ticket.team_id is None:
        ticket.team_id = rule.team_id
    members = Membership.objects.filter(is_active=True)
    if rule.team_id:
        members = members.filter(team_id=rule.team_id)
    agents = list(
        ServiceAgent.objects.select_for_update()
        .filter(is_available=True, user_id__in=members.values("user_id"))
        .order_by("id")
    )
    if rule.skill:
        agents = [a for a in agents if rule.skill in (a.skills or [])]
    if not agents:
        return
    loads = dict(
        Ticket.objects.filter(assignee_id__in=[a.user_id for a in agents], status__in=OPEN_TICKET_STATUSES)
        .values("assignee_id")
        .annotate(n=Count("id"))
        .values_list("assignee_id", "n")
    )
    free = [a for a in agents if loads.get(a.user_id, 0) < a.max_open]
    if not free:
        return
    never = timezone.now().replace(year=1970)

    def turn(a: ServiceAgent) -> tuple:
        return (a.last_assigned_at or never, a.pk)

    if rule.method == AssignMethod.LEAST_LOADED:
        chosen = min(free, key=lambda a: (loads.get(a.user_id, 0), *turn(a)))
    else:
        chosen = min(free, key=turn)
    chosen.last_assigned_at = timezone.now()
    chosen.save(update_fields=["last_assigned_at"])
    ticket.assignee_id = chosen.user_id


def service_agent_set(
    *,
    actor: Membership,
    user_id: int,
    skills: list[str] | None = None,
    max_open: int = 30,
    is_available: bool = True,
) -> ServiceAgent:
    """Make a member a service agent (or change their skills, cap, availability)."""
    require_service_admin(actor)
    if not Membership.objects.filter(user_id=user_id, is_active=True).exists():
        raise ValidationFailed(fields={"user_id": _("Choose a member of this workspace.")})
    try:
        cap = int(max_open)
        if not 0 <= cap <= 10_000:
            raise ValueError
    except (TypeError, ValueError):
        raise ValidationFailed(fields={"max_open": _("Enter a number from 0 to 10000.")}) from None
    clean = sorted({str(s).strip()[:50] for s in skills or [] if str(s).strip()})
    agent, _created = ServiceAgent.objects.get_or_create(user_id=user_id)
    before = snapshot(agent)
    agent.skills, agent.max_open, agent.is_available = clean, cap, bool(is_available)
    agent.save()
    audit_record(
        workspace=actor.workspace, actor=actor.user, action="service_agent.set", obj=agent, before=before,
        after=snapshot(agent),
    )  # fmt: skip
    return agent


RULE_FIELDS = (
    "name",
    "position",
    "is_active",
    "category_id",
    "channel",
    "priority",
    "type",
    "team_id",
    "skill",
    "method",
)


def _clean_rule(data: dict[str, Any]) -> dict[str, Any]:
    """Validate an assignment rule's fields (all of them, as a form sends them); errors name each field."""
    from guanxi.service.models import TicketCategory, TicketChannel, TicketPriority, TicketType  # noqa: PLC0415
    from guanxi.workspaces.models import Team  # noqa: PLC0415

    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    out["name"] = str(data.get("name") or "").strip()
    if not out["name"]:
        errors["name"] = _("This field is required.")
    elif len(out["name"]) > 100:
        errors["name"] = _("At most %(n)s characters.") % {"n": 100}
    try:
        out["position"] = int(str(data.get("position") if data.get("position") not in (None, "") else 0))
        if not 0 <= out["position"] <= 10_000:
            raise ValueError
    except (TypeError, ValueError):
        errors["position"] = _("Enter a number from 0 to 10000.")
    out["is_active"] = bool(data.get("is_active", True))
    for field, choices in (
        ("channel", TicketChannel.values),
        ("priority", TicketPriority.values),
        ("type", TicketType.values),
    ):
        value = str(data.get(field) or "")
        if value and value not in choices:
            errors[field] = _("Choose one of: %(choices)s.") % {"choices": ", ".join(choices)}
        out[field] = value
    method = str(data.get("method") or AssignMethod.ROUND_ROBIN)
    if method not in AssignMethod.values:
        errors["method"] = _("Choose round-robin or least open tickets.")
    out["method"] = method
    for field, model, message in (
        ("category_id", TicketCategory, _("Choose a category of this workspace.")),
        ("team_id", Team, _("Choose a team of this workspace.")),
    ):
        value = data.get(field)
        if value in (None, ""):
            out[field] = None
        elif not str(value).isdigit() or not model.objects.filter(pk=value).exists():
            errors[field] = message
        else:
            out[field] = int(value)
    skill = str(data.get("skill") or "").strip()
    if len(skill) > 50:
        errors["skill"] = _("At most %(n)s characters.") % {"n": 50}
    out["skill"] = skill
    if errors:
        raise ValidationFailed(fields=errors)
    return out


def ticket_rule_create(*, actor: Membership, name: str, **fields: Any) -> TicketRule:
    """An assignment rule. Fields: position, is_active, category_id, channel, priority, type, team_id, skill,
    method. Refuses unknown or bad fields, naming each; nothing is saved then."""
    require_service_admin(actor)
    unknown = set(fields) - set(RULE_FIELDS)
    if unknown:
        raise ValidationFailed(fields={k: _("Unknown field.") for k in sorted(unknown)})
    data = _clean_rule({"name": name, **fields})
    with transaction.atomic():
        rule = TicketRule.objects.create(**data)
        audit_record(
            workspace=actor.workspace, actor=actor.user, action="ticket_rule.create", obj=rule,
            after=snapshot(rule),
        )  # fmt: skip
    return rule


def ticket_rule_get(rule_id: Any, *, lock: bool = False) -> TicketRule:
    """An assignment rule of the current workspace; missing and another workspace's are one NotFound."""
    qs = TicketRule.objects.select_related("category", "team")
    if lock:
        qs = qs.select_for_update(of=("self",))
    rule = qs.filter(pk=rule_id).first() if str(rule_id).isdigit() else None
    if rule is None:
        raise NotFound()
    return rule


def ticket_rule_update(*, actor: Membership, rule_id: Any, **fields: Any) -> TicketRule:
    """Change an assignment rule (fields not given keep their value). Applies to tickets created from now on."""
    require_service_admin(actor)
    unknown = set(fields) - set(RULE_FIELDS)
    if unknown:
        raise ValidationFailed(fields={k: _("Unknown field.") for k in sorted(unknown)})
    with transaction.atomic():
        rule = ticket_rule_get(rule_id, lock=True)
        before = snapshot(rule)
        data = _clean_rule({**{k: getattr(rule, k) for k in RULE_FIELDS}, **fields})
        for k, v in data.items():
            setattr(rule, k, v)
        rule.save()
        audit_record(
            workspace=actor.workspace, actor=actor.user, action="ticket_rule.update", obj=rule, before=before,
            after=snapshot(rule),
        )  # fmt: skip
    return rule


def ticket_rule_delete(*, actor: Membership, rule_id: Any) -> None:
    """Delete an assignment rule; tickets already assigned keep their assignee. Audited."""
    require_service_admin(actor)
    with transaction.atomic():
        rule = ticket_rule_get(rule_id, lock=True)
        audit_record(
            workspace=actor.workspace, actor=actor.user, action="ticket_rule.delete", obj=rule,
            before=snapshot(rule),
        )  # fmt: skip
        rule.delete()


__all__ = [
    "rule_for", "service_agent_set", "ticket_pick_assignee", "ticket_rule_create", "ticket_rule_delete",
    "ticket_rule_get", "ticket_rule_update",
]  # fmt: skip

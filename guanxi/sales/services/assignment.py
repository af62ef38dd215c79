"""Territories (销售地域) and assignment rules (分配规则): set-up writes, and ``assign_owner`` for new records."""

from __future__ import annotations

from typing import Any, Literal

from django.db import transaction
from django.db.models import Count, Q
from django.utils.translation import gettext as _

from guanxi.core.errors import NotFound, ValidationFailed
from guanxi.ledger.services import audit_record, snapshot
from guanxi.sales.models import (
    OPEN_LEAD_STATUSES,
    AssignmentRule,
    AssignmentRuleMember,
    Lead,
    Opportunity,
    OpportunityStatus,
    RuleApplies,
    RuleCriterion,
    RuleDistribution,
    Territory,
    TerritoryMember,
)
from guanxi.sales.services._common import check_member, clean_text, require_sales_admin
from guanxi.workspaces.models import Membership

Target = Literal["leads", "opportunities"]


def _names(value: Any) -> list[str]:
    """A list of region names from a list or a comma/、/newline separated string; blanks and repeats dropped."""
    if value is None:
        return []
    if isinstance(value, str):
        for sep in ("，", "、", "\n", ";", "；"):
            value = value.replace(sep, ",")
        value = value.split(",")
    out: list[str] = []
    for v in value:
        v = str(v).strip()
        if v and v not in out:
            out.append(v[:50])
    return out


def _member_ids(values: Any, errors: dict[str, str], field: str) -> list[int]:
    out: list[int] = []
    for v in values or []:
        uid = check_member(v, errors, field)
        if uid is not None and uid not in out:
            out.append(uid)
    return out


# --- territories ---------------------------------------------------------------------------------------------------


def _territory_clean(data: dict) -> tuple[dict, list[int] | None]:
    errors: dict[str, str] = {}
    out = dict(data)
    if "name" in out:
        clean_text(out, "name", 100, errors, required=True)
    for key in ("provinces", "cities"):
        if key in out:
            out[key] = _names(out[key])
    if "manager_id" in out:
        out["manager_id"] = check_member(out["manager_id"], errors, "manager_id")
    members = None
    if "member_ids" in out:
        members = _member_ids(out.pop("member_ids"), errors, "member_ids")
    if errors:
        raise ValidationFailed(fields=errors)
    return out, members


def _set_territory_members(territory: Territory, user_ids: list[int]) -> None:
    TerritoryMember.objects.filter(territory=territory).exclude(user_id__in=user_ids).delete()
    have = set(TerritoryMember.objects.filter(territory=territory).values_list("user_id", flat=True))
    TerritoryMember.objects.bulk_create(
        [
            TerritoryMember(workspace=territory.workspace, territory=territory, user_id=u)
            for u in user_ids
            if u not in have
        ]
    )


def territory_create(
    *,
    actor: Membership,
    name: str,
    provinces: Any = (),
    cities: Any = (),
    manager_id: int | None = None,
    member_ids: list[int] = (),
) -> Territory:
    """Create a territory with its regions, manager and members. Sales admins only; names are unique."""
    require_sales_admin(actor)
    data, members = _territory_clean(
        {
            "name": name,
            "provinces": provinces,
            "cities": cities,
            "manager_id": manager_id,
            "member_ids": member_ids,
        }
    )
    with transaction.atomic():
        if Territory.objects.filter(name=data["name"]).exists():
            raise ValidationFailed(fields={"name": _("A territory with this name already exists.")})
        territory = Territory.objects.create(**data)
        _set_territory_members(territory, members or [])
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="territory.create",
            obj=territory,
            after={**snapshot(territory), "member_ids": members},
        )
    return territory


def territory_update(*, actor: Membership, territory_id: int, **fields: Any) -> Territory:
    """Change a territory's name, regions, manager or members (``member_ids`` replaces the list)."""
    require_sales_admin(actor)
    unknown = set(fields) - {"name", "provinces", "cities", "manager_id", "member_ids"}
    if unknown:
        raise ValidationFailed(fields={k: _("Unknown field.") for k in unknown})
    data, members = _territory_clean(fields)
    with transaction.atomic():
        territory = Territory.objects.select_for_update().filter(pk=territory_id).first()
        if territory is None:
            raise NotFound()
        if "name" in data and Territory.objects.filter(name=data["name"]).exclude(pk=territory.pk).exists():
            raise ValidationFailed(fields={"name": _("A territory with this name already exists.")})
        before = {
            **snapshot(territory),
            "member_ids": sorted(territory.members.values_list("user_id", flat=True)),
        }
        for k, v in data.items():
            setattr(territory, k, v)
        territory.save()
        if members is not None:
            _set_territory_members(territory, members)
        after = {
            **snapshot(territory),
            "member_ids": sorted(territory.members.values_list("user_id", flat=True)),
        }
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="territory.update",
            obj=territory,
            before=before,
            after=after,
        )
    return territory


def territory_delete(*, actor: Membership, territory_id: int) -> None:
    """Delete a territory; rules that named it are deleted with it (they could no longer match)."""
    require_sales_admin(actor)
    with transaction.atomic():
        territory = Territory.objects.filter(pk=territory_id).first()
        if territory is None:
            raise NotFound()
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="territory.delete",
            obj=territory,
            before=snapshot(territory),
        )
        territory.delete()


# --- rules ---------------------------------------------------------------------------------------------------------

RULE_FIELDS = (
    "name",
    "position",
    "is_active",
    "applies_to",
    "criterion",
    "territory_id",
    "industry",
    "distribution",
)


def _rule_clean(data: dict) -> tuple[dict, list[int] | None]:
    errors: dict[str, str] = {}
    out = dict(data)
    if "name" in out:
        clean_text(out, "name", 100, errors, required=True)
    if "industry" in out:
        clean_text(out, "industry", 50, errors)
    for key, choices in (
        ("applies_to", RuleApplies.values),
        ("criterion", RuleCriterion.values),
        ("distribution", RuleDistribution.values),
    ):
        if key in out and out[key] not in choices:
            errors[key] = _("Choose one of: %(choices)s.") % {"choices": ", ".join(choices)}
    if "position" in out:
        try:
            out["position"] = max(0, int(out["position"]))
        except (TypeError, ValueError):
            errors["position"] = _("Enter a whole number.")
    if out.get("territory_id") not in (None, ""):
        try:
            tid = int(out["territory_id"])
        except (TypeError, ValueError):
            tid = 0
        if not Territory.objects.filter(pk=tid).exists():
            errors["territory_id"] = _("Choose a territory of this workspace.")
        out["territory_id"] = tid
    elif "territory_id" in out:
        out["territory_id"] = None
    members = None
    if "member_ids" in out:
        members = _member_ids(out.pop("member_ids"), errors, "member_ids")
    if errors:
        raise ValidationFailed(fields=errors)
    return out, members


def _rule_check_whole(rule: AssignmentRule, members: list[int]) -> None:
    errors: dict[str, str] = {}
    if rule.criterion == RuleCriterion.INDUSTRY and not rule.industry:
        errors["industry"] = _("A rule by industry needs the industry.")
    if rule.distribution == RuleDistribution.MANAGER and rule.criterion != RuleCriterion.TERRITORY:
        errors["distribution"] = _("Only a rule by territory can hand records to the territory's manager.")
    if rule.criterion != RuleCriterion.TERRITORY and not members:
        errors["member_ids"] = _("Choose the members this rule hands records to.")
    if errors:
        raise ValidationFailed(fields=errors)


def _set_rule_members(rule: AssignmentRule, user_ids: list[int]) -> None:
    AssignmentRuleMember.objects.filter(rule=rule).delete()
    AssignmentRuleMember.objects.bulk_create(
        [AssignmentRuleMember(workspace=rule.workspace, rule=rule, user_id=u) for u in user_ids]
    )


def rule_create(*, actor: Membership, name: str, member_ids: list[int] = (), **fields: Any) -> AssignmentRule:
    """Create an assignment rule. By industry needs the industry; every rule but a territory rule needs members."""
    require_sales_admin(actor)
    unknown = set(fields) - set(RULE_FIELDS)
    if unknown:
        raise ValidationFailed(fields={k: _("Unknown field.") for k in unknown})
    data, members = _rule_clean({"name": name, **fields, "member_ids": list(member_ids or [])})
    with transaction.atomic():
        if "position" not in data:
            last = AssignmentRule.objects.order_by("-position").values_list("position", flat=True).first()
            data["position"] = (last or 0) + 10
        rule = AssignmentRule(**data)
        _rule_check_whole(rule, members or [])
        rule.save()
        _set_rule_members(rule, members or [])
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="assignment_rule.create",
            obj=rule,
            after={**snapshot(rule), "member_ids": members},
        )
    return rule


def rule_update(*, actor: Membership, rule_id: int, **fields: Any) -> AssignmentRule:
    require_sales_admin(actor)
    unknown = set(fields) - {*RULE_FIELDS, "member_ids"}
    if unknown:
        raise ValidationFailed(fields={k: _("Unknown field.") for k in unknown})
    data, members = _rule_clean(fields)
    with transaction.atomic():
        rule = AssignmentRule.objects.select_for_update().filter(pk=rule_id).first()
        if rule is None:
            raise NotFound()
        before = snapshot(rule)
        for k, v in data.items():
            setattr(rule, k, v)
        if members is None:
            members = list(rule.members.values_list("user_id", flat=True))
        else:
            _set_rule_members(rule, members)
        _rule_check_whole(rule, members)
        rule.save()
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="assignment_rule.update",
            obj=rule,
            before=before,
            after=snapshot(rule),
        )
    return rule


def rule_delete(*, actor: Membership, rule_id: int) -> None:
    require_sales_admin(actor)
    with transaction.atomic():
        rule = AssignmentRule.objects.filter(pk=rule_id).first()
        if rule is None:
            raise NotFound()
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="assignment_rule.delete",
            obj=rule,
            before=snapshot(rule),
        )
        rule.delete()


# --- applying the rules ----------------------------------------------------------------------------------------------


def _open_load(user_ids: list[int]) -> dict[int, int]:
    """Open leads + open opportunities per user (indexes lead_ws_owner_status_idx, opp_ws_owner_status_idx)."""
    load = dict.fromkeys(user_ids, 0)
    for uid, n in (
        Lead.objects.filter(owner_id__in=user_ids, status__in=OPEN_LEAD_STATUSES)
        .values_list("owner_id")
        .annotate(n=Count("id"))
    ):
        load[uid] += n
    for uid, n in (
        Opportunity.objects.filter(owner_id__in=user_ids, status=OpportunityStatus.OPEN)
        .values_list("owner_id")
        .annotate(n=Count("id"))
    ):
        load[uid] += n
    return load


def _candidates(rule: AssignmentRule, territory: Territory | None) -> list[int]:
    active = set(Membership.objects.filter(is_active=True).values_list("user_id", flat=True))
    ids = list(rule.members.order_by("id").values_list("user_id", flat=True))
    if not ids and territory is not None:
        ids = list(territory.members.order_by("id").values_list("user_id", flat=True))
    return [u for u in ids if u in active]


def assign_owner(*, target: Target, province: str = "", city: str = "", industry: str = "") -> int | None:
    """The user id the first matching active rule picks for a new lead/opportunity, or None when none matches.

    Runs inside the caller's transaction (it must: the round-robin pointer is locked with ``select_for_update``
    and advanced there, so concurrent creations each get the next member, never the same one twice).
    """
    applies = Q(applies_to=RuleApplies.BOTH) | Q(applies_to=target)
    rules = list(
        AssignmentRule.objects.filter(applies, is_active=True)
        .select_related("territory")
        .order_by("position", "id")
    )
    territories: list[Territory] | None = None
    for rule in rules:
        territory: Territory | None = None
        if rule.criterion == RuleCriterion.TERRITORY:
            if rule.territory is not None:
                territory = rule.territory if rule.territory.matches(province=province, city=city) else None
            else:
                if territories is None:
                    territories = list(Territory.objects.order_by("name", "id"))
                # a city match is more specific than a province match
                territory = next((t for t in territories if city and city in (t.cities or [])), None) or next(
                    (t for t in territories if t.matches(province=province, city="")), None
                )
            if territory is None:
                continue
        elif rule.criterion == RuleCriterion.INDUSTRY and (
            not industry or industry.strip().lower() != rule.industry.strip().lower()
        ):
            continue
        if rule.distribution == RuleDistribution.MANAGER:
            if territory is not None and territory.manager_id:
                return territory.manager_id
            continue
        candidates = _candidates(rule, territory)
        if not candidates:
            continue
        if rule.distribution == RuleDistribution.LOAD:
            load = _open_load(candidates)
            return min(candidates, key=lambda u: (load[u], candidates.index(u)))
        # round-robin: lock the rule row, take the member at the pointer, advance it
        locked = AssignmentRule.objects.select_for_update().get(pk=rule.pk)
        chosen = candidates[locked.rr_pointer % len(candidates)]
        AssignmentRule.objects.filter(pk=rule.pk).update(rr_pointer=locked.rr_pointer + 1)
        return chosen
    return None

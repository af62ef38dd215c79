"""Quotas (销售指标) and forecast categories: the writes behind the forecast.

Quotas are set by managers: a salesperson's quota by someone with team or workspace sales edit scope over them;
a team's quota by a workspace-wide sales editor or the team's manager (with team edit scope). A salesperson never
sets their own quota. Every change is audited.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from guanxi.core.errors import Forbidden, ValidationFailed
from guanxi.ledger.services import audit_record, snapshot
from guanxi.sales.models import ForecastCategory, Opportunity, Quota
from guanxi.sales.selectors import get_opportunity_for
from guanxi.sales.selectors_forecast import Period, period_of
from guanxi.sales.services._common import clean_amount, clean_currency
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership, Team
from guanxi.workspaces.permissions import Module, Scope

MAX_BULK = 2000


def may_set_quota(actor: Membership, *, owner_id: int | None = None, team: Team | None = None) -> bool:
    """Whether the actor may set this owner's (or team's) quota."""
    scope = permissions.scope_for(actor, Module.SALES, "edit")
    if scope == Scope.WORKSPACE:
        return True
    if scope != Scope.TEAM:
        return False
    if team is not None:
        return team.manager_id == actor.user_id
    return owner_id is not None and owner_id != actor.user_id and owner_id in permissions.team_user_ids(actor)


def _target(entry: dict, errors: dict[str, str], prefix: str) -> tuple[int | None, Team | None]:
    owner_id, team_id = entry.get("owner_id"), entry.get("team_id")
    if (owner_id in (None, "")) == (team_id in (None, "")):
        errors[f"{prefix}owner_id"] = _("Give either a salesperson or a team.")
        return None, None
    if owner_id not in (None, ""):
        uid = int(owner_id) if str(owner_id).isdigit() else None
        if uid is None or not Membership.objects.filter(user_id=uid, is_active=True).exists():
            errors[f"{prefix}owner_id"] = _("Choose a member of this workspace.")
            return None, None
        return uid, None
    team = Team.objects.filter(pk=team_id).first() if str(team_id).isdigit() else None
    if team is None:
        errors[f"{prefix}team_id"] = _("Choose a team of this workspace.")
        return None, None
    return None, team


def quota_bulk_set(*, actor: Membership, entries: list[dict]) -> list[Quota]:
    """Set many quotas at once (the quota grid), all or nothing.

    Each entry: ``owner_id`` or ``team_id``, ``period`` (month/quarter/year), ``start`` (any day of the period),
    ``amount`` (empty = remove the quota) and ``currency`` (CNY by default). Refuses, naming the entry
    (``entries.<i>.<field>``): a non-member, a team of another workspace, a negative or malformed amount, a target the
    actor may not set (403, nothing written). Returns the quotas written (removed ones left out).
    """
    if not permissions.can(actor, Module.SALES, "edit"):
        raise Forbidden()
    if len(entries) > MAX_BULK:
        raise ValidationFailed(fields={"entries": _("At most %(n)s quotas at once.") % {"n": MAX_BULK}})
    errors: dict[str, str] = {}
    cleaned: list[tuple[int | None, Team | None, Period, str, Decimal | None]] = []
    denied = False
    for i, entry in enumerate(entries):
        prefix = f"entries.{i}."
        row_errors: dict[str, str] = {}
        owner_id, team = _target(entry, row_errors, prefix)
        try:
            period = period_of(entry.get("period"), entry.get("start"))
        except ValidationFailed as exc:
            row_errors.update({prefix + k: v for k, v in exc.fields.items()})
            period = None
        amount_errors: dict[str, str] = {}
        amount = clean_amount(entry.get("amount"), amount_errors)
        currency_errors: dict[str, str] = {}
        currency = clean_currency(entry.get("currency") or "CNY", currency_errors)
        row_errors.update({prefix + k: v for k, v in {**amount_errors, **currency_errors}.items()})
        if row_errors:
            errors.update(row_errors)
            continue
        if not may_set_quota(actor, owner_id=owner_id, team=team):
            denied = True
            errors[prefix + ("team_id" if team else "owner_id")] = _("You may not set this quota.")
            continue
        assert period is not None
        cleaned.append((owner_id, team, period, currency, amount))
    if denied:
        raise Forbidden(_("You may not set some of these quotas."), fields=errors)
    if errors:
        raise ValidationFailed(fields=errors)

    written: list[Quota] = []
    with transaction.atomic():
        for owner_id, team, period, currency, amount in cleaned:
            key = {
                "owner_id": owner_id,
                "team": team,
                "period_kind": period.kind,
                "period_start": period.start,
                "currency": currency,
            }
            existing = Quota.objects.select_for_update().filter(**key).first()
            before = snapshot(existing) if existing else None
            if amount is None:
                if existing is not None:
                    existing.delete()
                    audit_record(
                        workspace=actor.workspace, actor=actor.user, action="quota.delete",
                        object_type="sales.quota", object_id=str(before["id"]) if before else "",
                        before=before, after=None,
                    )  # fmt: skip
                continue
            if existing is not None and existing.amount == amount:
                written.append(existing)
                continue
            if existing is None:
                quota = Quota.objects.create(amount=amount, set_by=actor.user, **key)
            else:
                existing.amount, existing.set_by = amount, actor.user
                existing.save(update_fields=["amount", "set_by", "updated_at"])
                quota = existing
            audit_record(
                workspace=actor.workspace,
                actor=actor.user,
                action="quota.set",
                obj=quota,
                before=before,
                after=snapshot(quota),
            )
            written.append(quota)
    return written


def quota_set(
    *,
    actor: Membership,
    period: str,
    start: Any,
    amount: Any,
    owner_id: Any = None,
    team_id: Any = None,
    currency: str = "CNY",
) -> Quota | None:
    """Set one quota (see ``quota_bulk_set``); errors name the plain fields."""
    entry = {
        "owner_id": owner_id,
        "team_id": team_id,
        "period": period,
        "start": start,
        "amount": amount,
        "currency": currency,
    }
    try:
        rows = quota_bulk_set(actor=actor, entries=[entry])
    except (ValidationFailed, Forbidden) as exc:
        exc.fields = {k.removeprefix("entries.0."): v for k, v in exc.fields.items()}
        raise
    return rows[0] if rows else None


def opportunity_set_forecast_category(
    *, actor: Membership, opportunity_id: Any, category: str
) -> Opportunity:
    """Put an opportunity in a forecast category (commit, best case, pipeline, omitted), or back to the stage's
    default (empty). Needs sales edit on the opportunity; audited."""
    if category not in ("", *ForecastCategory.values):
        raise ValidationFailed(
            fields={"category": _("Choose pipeline, best case, commit or omitted (or empty for automatic).")}
        )
    with transaction.atomic():
        opp = get_opportunity_for(actor, opportunity_id, action="edit", lock=True)
        if opp.forecast_category == category:
            return opp
        before = {"forecast_category": opp.forecast_category}
        opp.forecast_category = category
        opp.save(update_fields=["forecast_category", "updated_at"])
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="opportunity.forecast_category",
            obj=opp,
            before=before,
            after={"forecast_category": category},
        )
    return opp

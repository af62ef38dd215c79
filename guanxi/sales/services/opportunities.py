"""Opportunities (商机): create, change, move between stages through the stage gate, stale alerts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core.errors import ValidationFailed
from guanxi.core.realtime import notify_user
from guanxi.customers.models import Customer, InteractionKind
from guanxi.customers.timeline import interaction_record
from guanxi.ledger.services import audit_record, snapshot
from guanxi.sales.models import Lead, Opportunity, OpportunityStatus, Pipeline, Stage, StageChange, StageKind
from guanxi.sales.selectors import get_opportunity_for
from guanxi.sales.services._common import (
    check_member,
    clean_amount,
    clean_currency,
    clean_date,
    clean_text,
)
from guanxi.sales.services.assignment import assign_owner
from guanxi.sales.services.pipelines import default_pipeline
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module

SOURCE_TYPE = "sales.opportunity"
# Fields a member edits on an opportunity (stage moves go through opportunity_move).
EDITABLE = (
    "name",
    "amount",
    "currency",
    "expected_close_date",
    "owner_id",
    "competitors",
    "next_step",
    "loss_reason",
)


def gate_field_labels() -> dict[str, str]:
    return {
        "amount": _("amount"),
        "expected_close_date": _("expected close date"),
        "competitors": _("competitors"),
        "next_step": _("next step"),
        "loss_reason": _("loss reason"),
    }


def _clean(data: dict) -> dict:
    errors: dict[str, str] = {}
    out = dict(data)
    if "name" in out:
        clean_text(out, "name", 200, errors, required=True)
    for key, n in (("competitors", 300), ("next_step", 300), ("loss_reason", 500)):
        if key in out:
            clean_text(out, key, n, errors)
    if "amount" in out:
        out["amount"] = clean_amount(out["amount"], errors)
    if "currency" in out:
        out["currency"] = clean_currency(out["currency"], errors)
    if "expected_close_date" in out:
        out["expected_close_date"] = clean_date(out["expected_close_date"], errors, "expected_close_date")
    if "owner_id" in out:
        out["owner_id"] = check_member(out["owner_id"], errors)
    if errors:
        raise ValidationFailed(fields=errors)
    return out


def _missing_for(opp: Opportunity, stage: Stage) -> list[str]:
    """The fields the stage gate wants that the opportunity lacks, in a stable order."""
    wanted = list(stage.required_fields or [])
    if stage.kind == StageKind.LOST and "loss_reason" not in wanted:
        wanted.append("loss_reason")
    return [f for f in wanted if getattr(opp, f) in (None, "")]


def _gate(opp: Opportunity, stage: Stage) -> None:
    missing = _missing_for(opp, stage)
    if missing:
        labels = gate_field_labels()
        names = "、".join(str(labels.get(f, f)) for f in missing)
        raise ValidationFailed(
            _("Stage “%(stage)s” needs: %(fields)s.") % {"stage": stage.name, "fields": names},
            fields={
                f: _("Required to enter the stage “%(stage)s”.") % {"stage": stage.name} for f in missing
            },
            code="stage_gate",
        )


def _status_for(stage: Stage) -> str:
    return {StageKind.WON: OpportunityStatus.WON, StageKind.LOST: OpportunityStatus.LOST}.get(
        stage.kind, OpportunityStatus.OPEN
    )


def _timeline(opp: Opportunity, actor: Any, subject: str, *, at: dt.datetime, data: dict) -> None:
    interaction_record(
        workspace=opp.workspace,
        customer_id=opp.customer_id,
        kind=InteractionKind.SYSTEM,
        occurred_at=at,
        actor=actor,
        subject=subject,
        source_type=SOURCE_TYPE,
        source_id=str(opp.pk),
        data=data,
    )


def _money(opp: Opportunity) -> str:
    return f"{opp.currency} {opp.amount}" if opp.amount is not None else ""


def opportunity_create(
    *,
    actor: Membership,
    customer_id: int,
    name: str,
    pipeline_id: int | None = None,
    stage_id: int | None = None,
    source_lead: Lead | None = None,
    assign: bool = True,
    **fields: Any,
) -> Opportunity:
    """Create an opportunity for a customer of this workspace, in the pipeline's first open stage by default.

    Without ``owner_id`` the assignment rules pick the owner (region and industry of the customer), else the
    actor owns it. Refuses a customer of another workspace or outside the actor's view (``customer_id``), a
    stage of another pipeline, and a first stage whose gate is not met. Writes the stage history, the customer's
    timeline and the audit trail.
    """
    permissions.require(actor, Module.SALES, "edit")
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise ValidationFailed(fields={k: _("Unknown field.") for k in unknown})
    data = _clean({"name": name, **fields})
    with transaction.atomic():
        customer = (
            Customer.objects.filter(pk=customer_id, merged_into__isnull=True).first()
            if str(customer_id).isdigit()
            else None
        )
        if customer is None or not permissions.can(
            actor, Module.CUSTOMERS, "view", owner_id=customer.owner_id
        ):
            raise ValidationFailed(fields={"customer_id": _("Choose a customer of this workspace.")})
        if pipeline_id is None:
            pipeline = default_pipeline(actor=actor)
        else:
            pipeline = Pipeline.objects.filter(pk=pipeline_id, is_active=True).first()
            if pipeline is None:
                raise ValidationFailed(fields={"pipeline_id": _("Choose a pipeline of this workspace.")})
        stages = list(Stage.objects.filter(pipeline=pipeline).order_by("position", "id"))
        if stage_id is None:
            stage = next(s for s in stages if s.kind == StageKind.OPEN)
        else:
            stage = next((s for s in stages if str(s.pk) == str(stage_id)), None)
            if stage is None:
                raise ValidationFailed(fields={"stage_id": _("Choose a stage of this pipeline.")})
        if data.get("owner_id") is not None:
            permissions.require(actor, Module.SALES, "edit", owner_id=data["owner_id"])
        elif assign:
            data["owner_id"] = (
                assign_owner(
                    target="opportunities",
                    province=customer.province,
                    city=customer.city,
                    industry=customer.industry,
                )
                or actor.user_id
            )
        else:
            data["owner_id"] = actor.user_id
        data.setdefault("currency", pipeline.currency)
        now = timezone.now()
        opp = Opportunity(
            customer=customer,
            pipeline=pipeline,
            stage=stage,
            status=_status_for(stage),
            stage_entered_at=now,
            last_activity_at=now,
            closed_at=now if stage.kind != StageKind.OPEN else None,
            source_lead=source_lead,
            created_by=actor.user,
            **data,
        )
        _gate(opp, stage)
        opp.save()
        StageChange.objects.create(
            opportunity=opp, from_stage=None, to_stage=stage, actor=actor.user, changed_at=now
        )
        _timeline(
            opp,
            actor.user,
            _("Opportunity created: %(name)s (%(stage)s)") % {"name": opp.name, "stage": stage.name},
            at=now,
            data={"event": "opportunity.create", "stage": stage.name, "amount": _money(opp)},
        )
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="opportunity.create",
            obj=opp,
            after=snapshot(opp),
        )
    return opp


def opportunity_update(*, actor: Membership, opportunity_id: int, **fields: Any) -> Opportunity:
    """Change an opportunity's fields (not its stage: see ``opportunity_move``). Counts as activity.

    The current stage's gate still holds: emptying a field the stage requires is refused.
    """
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise ValidationFailed(fields={k: _("Unknown field.") for k in unknown})
    data = _clean(fields)
    with transaction.atomic():
        opp = get_opportunity_for(actor, opportunity_id, action="edit", lock=True)
        if "owner_id" in data and data["owner_id"] != opp.owner_id:
            if data["owner_id"] is None:
                raise ValidationFailed(fields={"owner_id": _("An opportunity needs an owner.")})
            permissions.require(actor, Module.SALES, "edit", owner_id=data["owner_id"])
        before = snapshot(opp)
        for k, v in data.items():
            setattr(opp, k, v)
        _gate(opp, opp.stage)
        opp.last_activity_at = timezone.now()
        opp.stale_since = None
        opp.save()
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="opportunity.update",
            obj=opp,
            before=before,
            after=snapshot(opp),
        )
    return opp


@dataclass(frozen=True)
class MoveResult:
    opportunity: Opportunity
    moved: bool  # False when it already was in that stage


def opportunity_move(*, actor: Membership, opportunity_id: int, stage_id: Any, **fields: Any) -> MoveResult:
    """Move an opportunity to another stage of its pipeline, through the stage gate.

    ``fields`` (amount, expected close date, competitors, next step, loss reason) are applied first, so a move can
    fill what the gate asks for. Refused, naming each missing field, while the target stage's required fields
    (and, for a lost stage, the loss reason) are empty; nothing changes then. Records the stage history with
    timestamps, the customer's timeline (stage change, won, lost) and the audit trail; counts as activity.
    """
    unknown = set(fields) - {
        "amount",
        "currency",
        "expected_close_date",
        "competitors",
        "next_step",
        "loss_reason",
    }
    if unknown:
        raise ValidationFailed(fields={k: _("Unknown field.") for k in unknown})
    data = _clean(fields)
    with transaction.atomic():
        opp = get_opportunity_for(actor, opportunity_id, action="edit", lock=True)
        target = (
            Stage.objects.filter(pk=stage_id, pipeline_id=opp.pipeline_id).first()
            if str(stage_id).isdigit()
            else None
        )
        if target is None:
            raise ValidationFailed(fields={"stage_id": _("Choose a stage of this opportunity's pipeline.")})
        before = snapshot(opp)
        for k, v in data.items():
            setattr(opp, k, v)
        if target.pk == opp.stage_id:
            if data:
                _gate(opp, target)
                opp.save()
            return MoveResult(opp, moved=False)
        _gate(opp, target)
        now = timezone.now()
        source = opp.stage
        seconds = max(0, int((now - opp.stage_entered_at).total_seconds()))
        opp.stage = target
        opp.status = _status_for(target)
        opp.stage_entered_at = now
        opp.last_activity_at = now
        opp.stale_since = None
        opp.closed_at = now if target.kind != StageKind.OPEN else None
        opp.save()
        StageChange.objects.create(
            opportunity=opp,
            from_stage=source,
            to_stage=target,
            actor=actor.user,
            changed_at=now,
            seconds_in_from_stage=seconds,
        )
        if target.kind == StageKind.WON:
            subject = _("Opportunity won: %(name)s %(amount)s") % {"name": opp.name, "amount": _money(opp)}
            event = "opportunity.won"
        elif target.kind == StageKind.LOST:
            subject = _("Opportunity lost: %(name)s (%(reason)s)") % {
                "name": opp.name,
                "reason": opp.loss_reason,
            }
            event = "opportunity.lost"
        else:
            subject = _("Opportunity %(name)s moved from %(from)s to %(to)s") % {
                "name": opp.name,
                "from": source.name,
                "to": target.name,
            }
            event = "opportunity.stage_change"
        _timeline(
            opp,
            actor.user,
            subject.strip(),
            at=now,
            data={"event": event, "from": source.name, "to": target.name, "amount": _money(opp)},
        )
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="opportunity.move",
            obj=opp,
            before=before,
            after=snapshot(opp),
        )
    return MoveResult(opp, moved=True)


def opportunity_record_activity(*, opportunity_id: int, at: dt.datetime | None = None) -> None:
    """Note activity on an opportunity (a call, a visit, a task done): clears its stale flag.

    For the activities area to call inside its own transaction; no audit (the activity itself is audited).
    """
    at = at or timezone.now()
    Opportunity.objects.filter(pk=opportunity_id, last_activity_at__lt=at).update(
        last_activity_at=at, stale_since=None
    )


def opportunity_flag_stale(*, now: dt.datetime | None = None) -> list[int]:
    """Flag the current workspace's open opportunities with no activity for their pipeline's ``stale_days``.

    Each newly flagged one is audited (system) and its owner notified in-app after commit; an already flagged one
    is not flagged (or notified) again until new activity clears it. Returns the ids flagged now.
    """
    now = now or timezone.now()
    flagged: list[int] = []
    with transaction.atomic():
        for pipeline in Pipeline.objects.filter(is_active=True, stale_days__gt=0):
            cutoff = now - dt.timedelta(days=pipeline.stale_days)
            rows = list(
                Opportunity.objects.select_for_update()
                .filter(
                    pipeline=pipeline,
                    status=OpportunityStatus.OPEN,
                    stale_since__isnull=True,
                    last_activity_at__lt=cutoff,
                )
                .only("id", "name", "owner_id", "workspace_id", "pipeline_id", "last_activity_at")
            )
            if not rows:
                continue
            Opportunity.objects.filter(pk__in=[o.pk for o in rows]).update(stale_since=now)
            for opp in rows:
                flagged.append(opp.pk)
                audit_record(
                    workspace=pipeline.workspace,
                    actor=None,
                    action="opportunity.flag_stale",
                    obj=opp,
                    changes={"stale_since": [None, now.isoformat()]},
                )
                if opp.owner_id:
                    payload = {
                        "type": "sales.opportunity_stale",
                        "opportunity_id": opp.pk,
                        "name": opp.name,
                        "days": pipeline.stale_days,
                        "message": _("No activity on %(name)s for %(days)s days.")
                        % {"name": opp.name, "days": pipeline.stale_days},
                    }
                    transaction.on_commit(lambda uid=opp.owner_id, p=payload: notify_user(uid, p))
    return flagged

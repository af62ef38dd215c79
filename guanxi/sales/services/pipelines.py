"""Pipelines (销售过程定制) and their stages: set-up writes, for sales admins."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import translation
from django.utils.translation import gettext as _

from guanxi.core.errors import Conflict, NotFound, ValidationFailed
from guanxi.ledger.services import audit_record, snapshot
from guanxi.sales.models import GATE_FIELDS, Opportunity, Pipeline, Stage, StageKind
from guanxi.sales.services._common import clean_currency, clean_text, require_sales_admin
from guanxi.workspaces.models import Membership


def _default_stages() -> list[dict[str, Any]]:
    return [
        {"name": _("Initial contact"), "probability": 10},
        {"name": _("Needs confirmed"), "probability": 30, "required_fields": ["amount"]},
        {
            "name": _("Proposal / quote"),
            "probability": 60,
            "required_fields": ["amount", "expected_close_date"],
        },
        {
            "name": _("Negotiation"),
            "probability": 80,
            "required_fields": ["amount", "expected_close_date", "competitors"],
        },
        {"name": _("Won"), "probability": 100, "kind": StageKind.WON, "required_fields": ["amount"]},
        {"name": _("Lost"), "probability": 0, "kind": StageKind.LOST},
    ]


def _clean_stage(data: dict) -> dict:
    errors: dict[str, str] = {}
    out = dict(data)
    if "name" in out:
        clean_text(out, "name", 100, errors, required=True)
    if "probability" in out:
        try:
            p = int(out["probability"])
            if not 0 <= p <= 100:
                raise ValueError
            out["probability"] = p
        except (TypeError, ValueError):
            errors["probability"] = _("Enter a whole number from 0 to 100.")
    if "kind" in out and out["kind"] not in StageKind.values:
        errors["kind"] = _("Choose one of: %(choices)s.") % {"choices": ", ".join(StageKind.values)}
    if "required_fields" in out:
        fields = out["required_fields"] or []
        if isinstance(fields, str):
            fields = [f.strip() for f in fields.split(",") if f.strip()]
        bad = [f for f in fields if f not in GATE_FIELDS]
        if bad:
            errors["required_fields"] = _("Unknown field %(field)s: choose from %(choices)s.") % {
                "field": bad[0],
                "choices": ", ".join(GATE_FIELDS),
            }
        out["required_fields"] = list(dict.fromkeys(fields))
    if "position" in out:
        try:
            out["position"] = max(0, int(out["position"]))
        except (TypeError, ValueError):
            errors["position"] = _("Enter a whole number.")
    if errors:
        raise ValidationFailed(fields=errors)
    return out


def _clean_pipeline(data: dict) -> dict:
    errors: dict[str, str] = {}
    out = dict(data)
    if "name" in out:
        clean_text(out, "name", 100, errors, required=True)
    if "currency" in out:
        out["currency"] = clean_currency(out["currency"], errors)
    if "stale_days" in out:
        try:
            days = int(out["stale_days"])
            if not 0 <= days <= 3650:
                raise ValueError
            out["stale_days"] = days
        except (TypeError, ValueError):
            errors["stale_days"] = _("Enter a number of days from 0 to 3650 (0: no alerts).")
    if errors:
        raise ValidationFailed(fields=errors)
    return out


def pipeline_create(
    *,
    actor: Membership,
    name: str,
    stages: list[dict[str, Any]] | None = None,
    currency: str = "CNY",
    stale_days: int = 14,
    is_default: bool = False,
) -> Pipeline:
    """Create a pipeline with its stages (the standard six, in the workspace's language, when none are given).

    The first pipeline of a workspace becomes its default. Refuses a duplicate name or a pipeline without an open
    stage.
    """
    require_sales_admin(actor)
    data = _clean_pipeline({"name": name, "currency": currency, "stale_days": stale_days})
    if stages is None:
        with translation.override(actor.workspace.language or "zh-hans"):
            stages = _default_stages()
    cleaned = [_clean_stage({"kind": StageKind.OPEN, "probability": 10, **s}) for s in stages]
    if not any(s["kind"] == StageKind.OPEN for s in cleaned):
        raise ValidationFailed(fields={"stages": _("A pipeline needs at least one open stage.")})
    names = [s["name"] for s in cleaned]
    if len(set(names)) != len(names):
        raise ValidationFailed(fields={"stages": _("Two stages have the same name.")})
    with transaction.atomic():
        if Pipeline.objects.filter(name=data["name"]).exists():
            raise ValidationFailed(fields={"name": _("A pipeline with this name already exists.")})
        first = not Pipeline.objects.exists()
        last = Pipeline.objects.aggregate(m=Max("position"))["m"] or 0
        if is_default:
            Pipeline.objects.filter(is_default=True).update(is_default=False)
        pipeline = Pipeline.objects.create(**data, is_default=is_default or first, position=last + 10)
        for i, s in enumerate(cleaned):
            s.setdefault("position", (i + 1) * 10)
            Stage.objects.create(pipeline=pipeline, **s)
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="pipeline.create",
            obj=pipeline,
            after={**snapshot(pipeline), "stages": names},
        )
    return pipeline


def pipeline_update(*, actor: Membership, pipeline_id: int, **fields: Any) -> Pipeline:
    """Change name, currency, stale-alert days, active flag or make it the default pipeline."""
    require_sales_admin(actor)
    unknown = set(fields) - {"name", "currency", "stale_days", "is_default", "is_active"}
    if unknown:
        raise ValidationFailed(fields={k: _("Unknown field.") for k in unknown})
    data = _clean_pipeline(fields)
    with transaction.atomic():
        pipeline = Pipeline.objects.select_for_update().filter(pk=pipeline_id).first()
        if pipeline is None:
            raise NotFound()
        if "name" in data and Pipeline.objects.filter(name=data["name"]).exclude(pk=pipeline.pk).exists():
            raise ValidationFailed(fields={"name": _("A pipeline with this name already exists.")})
        before = snapshot(pipeline)
        if data.get("is_default"):
            Pipeline.objects.exclude(pk=pipeline.pk).filter(is_default=True).update(is_default=False)
        elif data.get("is_default") is False and pipeline.is_default:
            raise ValidationFailed(fields={"is_default": _("Make another pipeline the default instead.")})
        for k, v in data.items():
            setattr(pipeline, k, v)
        pipeline.save()
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="pipeline.update",
            obj=pipeline,
            before=before,
            after=snapshot(pipeline),
        )
    return pipeline


def stage_create(*, actor: Membership, pipeline_id: int, name: str, **fields: Any) -> Stage:
    """Add a stage to a pipeline (at the end unless ``position`` is given)."""
    require_sales_admin(actor)
    unknown = set(fields) - {"probability", "kind", "required_fields", "position"}
    if unknown:
        raise ValidationFailed(fields={k: _("Unknown field.") for k in unknown})
    data = _clean_stage({"name": name, **fields})
    with transaction.atomic():
        pipeline = Pipeline.objects.filter(pk=pipeline_id).first()
        if pipeline is None:
            raise NotFound()
        if Stage.objects.filter(pipeline=pipeline, name=data["name"]).exists():
            raise ValidationFailed(fields={"name": _("This pipeline already has a stage with this name.")})
        if "position" not in data:
            data["position"] = (
                Stage.objects.filter(pipeline=pipeline).aggregate(m=Max("position"))["m"] or 0
            ) + 10
        stage = Stage.objects.create(pipeline=pipeline, **data)
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="stage.create",
            obj=stage,
            after=snapshot(stage),
        )
    return stage


def stage_update(*, actor: Membership, stage_id: int, **fields: Any) -> Stage:
    """Change a stage's name, probability, kind, required fields or position.

    Changing the kind of a stage that holds opportunities is refused (their status would silently change).
    """
    require_sales_admin(actor)
    unknown = set(fields) - {"name", "probability", "kind", "required_fields", "position"}
    if unknown:
        raise ValidationFailed(fields={k: _("Unknown field.") for k in unknown})
    data = _clean_stage(fields)
    with transaction.atomic():
        stage = Stage.objects.select_for_update().filter(pk=stage_id).first()
        if stage is None:
            raise NotFound()
        if (
            "name" in data
            and Stage.objects.filter(pipeline_id=stage.pipeline_id, name=data["name"])
            .exclude(pk=stage.pk)
            .exists()
        ):
            raise ValidationFailed(fields={"name": _("This pipeline already has a stage with this name.")})
        if "kind" in data and data["kind"] != stage.kind and Opportunity.objects.filter(stage=stage).exists():
            raise ValidationFailed(
                fields={"kind": _("Move the opportunities out of this stage before changing its kind.")}
            )
        if stage.kind == StageKind.OPEN and data.get("kind", StageKind.OPEN) != StageKind.OPEN:
            others_open = Stage.objects.filter(pipeline_id=stage.pipeline_id, kind=StageKind.OPEN).exclude(
                pk=stage.pk
            )
            if not others_open.exists():
                raise ValidationFailed(fields={"kind": _("A pipeline needs at least one open stage.")})
        before = snapshot(stage)
        for k, v in data.items():
            setattr(stage, k, v)
        stage.save()
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="stage.update",
            obj=stage,
            before=before,
            after=snapshot(stage),
        )
    return stage


def stage_delete(*, actor: Membership, stage_id: int) -> None:
    """Delete an empty stage. Refused while opportunities are in it, or when it is the last open stage."""
    require_sales_admin(actor)
    with transaction.atomic():
        stage = Stage.objects.select_for_update().filter(pk=stage_id).first()
        if stage is None:
            raise NotFound()
        if Opportunity.objects.filter(stage=stage).exists():
            raise Conflict(
                _("Move the opportunities out of this stage before deleting it."),
                fields={"stage_id": _("The stage is not empty.")},
            )
        if (
            stage.kind == StageKind.OPEN
            and not Stage.objects.filter(pipeline_id=stage.pipeline_id, kind=StageKind.OPEN)
            .exclude(pk=stage.pk)
            .exists()
        ):
            raise ValidationFailed(fields={"stage_id": _("A pipeline needs at least one open stage.")})
        audit_record(
            workspace=actor.workspace,
            actor=actor.user,
            action="stage.delete",
            obj=stage,
            before=snapshot(stage),
        )
        stage.delete()


def default_pipeline(*, actor: Membership) -> Pipeline:
    """The workspace's default pipeline; the standard one is created (audited, as ``actor``) when there is none.

    Runs inside the caller's transaction. Creating it needs no admin right: any member who may create an
    opportunity needs a pipeline to put it in.
    """
    pipeline = (
        Pipeline.objects.filter(is_default=True, is_active=True).first()
        or Pipeline.objects.filter(is_active=True).first()
    )
    if pipeline is not None:
        return pipeline
    with translation.override(actor.workspace.language or "zh-hans"):
        stages = _default_stages()
        name = _("Standard sales process")
    pipeline = Pipeline.objects.create(name=name, is_default=True, position=10)
    for i, s in enumerate(stages):
        Stage.objects.create(pipeline=pipeline, position=(i + 1) * 10, **{"kind": StageKind.OPEN, **s})
    audit_record(
        workspace=actor.workspace,
        actor=actor.user,
        action="pipeline.create",
        obj=pipeline,
        after=snapshot(pipeline),
    )
    return pipeline

"""Writes of the sales app (销售自动化). Each: keyword-only, one transaction, permission check, audit trail;
side effects (notifications) after commit. Grouped by area; import them from here."""

from guanxi.sales.services.assignment import (
    assign_owner,
    rule_create,
    rule_delete,
    rule_update,
    territory_create,
    territory_delete,
    territory_update,
)
from guanxi.sales.services.leads import (
    Conversion,
    lead_capture,
    lead_convert,
    lead_create,
    lead_disqualify,
    lead_duplicates,
    lead_form_create,
    lead_form_update,
    lead_qualify,
    lead_update,
)
from guanxi.sales.services.opportunities import (
    MoveResult,
    gate_field_labels,
    opportunity_create,
    opportunity_flag_stale,
    opportunity_move,
    opportunity_record_activity,
    opportunity_update,
)
from guanxi.sales.services.pipelines import (
    default_pipeline,
    pipeline_create,
    pipeline_update,
    stage_create,
    stage_delete,
    stage_update,
)

__all__ = [
    "Conversion",
    "MoveResult",
    "assign_owner",
    "default_pipeline",
    "gate_field_labels",
    "lead_capture",
    "lead_convert",
    "lead_create",
    "lead_disqualify",
    "lead_duplicates",
    "lead_form_create",
    "lead_form_update",
    "lead_qualify",
    "lead_update",
    "opportunity_create",
    "opportunity_flag_stale",
    "opportunity_move",
    "opportunity_record_activity",
    "opportunity_update",
    "pipeline_create",
    "pipeline_update",
    "rule_create",
    "rule_delete",
    "rule_update",
    "stage_create",
    "stage_delete",
    "stage_update",
    "territory_create",
    "territory_delete",
    "territory_update",
]

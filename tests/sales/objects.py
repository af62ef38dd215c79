"""One sales object of every kind in workspace A, for the isolation walk (tests/test_isolation.py)."""

from __future__ import annotations

from guanxi.core.context import workspace_context
from guanxi.sales.models import Stage
from guanxi.sales.services import (
    lead_create,
    lead_form_create,
    opportunity_create,
    pipeline_create,
    rule_create,
    territory_create,
)


def sales_objects(world, customers) -> dict:
    with workspace_context(world.ws_a):
        pipeline = pipeline_create(actor=world.olivia, name="Acme 销售流程")
        territory = territory_create(
            actor=world.olivia, name="华东", provinces=["上海"], member_ids=[world.sam.user_id]
        )
        return {
            "pipeline": pipeline,
            "stage": Stage.objects.filter(pipeline=pipeline).order_by("position").last(),
            "territory": territory,
            "rule": rule_create(actor=world.olivia, name="轮询", member_ids=[world.sam.user_id]),
            "lead_form": lead_form_create(actor=world.olivia, name="官网表单"),
            "lead": lead_create(actor=world.sam, name="李四", company="王五有限公司", phone="13800138000"),
            "opportunity": opportunity_create(
                actor=world.sam, customer_id=customers["sam_c"].pk, name="张三丰 ERP", pipeline_id=pipeline.pk
            ),
        }

"""Sales fixtures on top of the shared world: a pipeline with gated stages and a few opportunities."""

from __future__ import annotations

from decimal import Decimal

import pytest

from guanxi.core.context import workspace_context
from guanxi.sales.models import Stage
from guanxi.sales.services import opportunity_create, pipeline_create


class Sales:
    """Workspace A's pipeline ``p`` (stages by short name) and two opportunities: sam's and sue's."""

    def __init__(self, world, customers):
        with workspace_context(world.ws_a):
            self.p = pipeline_create(
                actor=world.olivia,
                name="B2B",
                stages=[
                    {"name": "Contact", "probability": 10},
                    {
                        "name": "Proposal",
                        "probability": 50,
                        "required_fields": ["amount", "expected_close_date"],
                    },
                    {"name": "Negotiation", "probability": 80, "required_fields": ["amount", "competitors"]},
                    {"name": "Won", "probability": 100, "kind": "won"},
                    {"name": "Lost", "probability": 0, "kind": "lost"},
                ],
            )
            self.stages = {s.name: s for s in Stage.objects.filter(pipeline=self.p)}
            self.sam_opp = opportunity_create(
                actor=world.sam,
                customer_id=customers["sam_c"].pk,
                name="张三丰 ERP",
                amount=Decimal("120000.00"),
                pipeline_id=self.p.pk,
            )
            self.sue_opp = opportunity_create(
                actor=world.sue, customer_id=customers["sue_c"].pk, name="李四 CRM", pipeline_id=self.p.pk
            )


@pytest.fixture
def sales(world, customers) -> Sales:
    return Sales(world, customers)

"""Assignment rules and territories: by territory, by industry, round-robin, by load; first matching rule wins."""

from __future__ import annotations

import pytest

from guanxi.core.context import workspace_context
from guanxi.core.errors import Forbidden, ValidationFailed
from guanxi.sales.models import AssignmentRule, Territory
from guanxi.sales.services import lead_create, opportunity_create, rule_create, territory_create


def _lead(world, **kw):
    kw.setdefault("phone", "13800138001")
    return lead_create(actor=world.olivia, name=kw.pop("name", "线索"), **kw)


def test_territory_rule_routes_by_city_then_province(world):
    with workspace_context(world.ws_a):
        south = territory_create(
            actor=world.olivia, name="华南", provinces="广东、广西", member_ids=[world.sue.user_id]
        )
        sz = territory_create(
            actor=world.olivia, name="深圳", cities=["深圳"], member_ids=[world.sam.user_id]
        )
        rule_create(actor=world.olivia, name="按地域", criterion="territory", distribution="round_robin")
        assert _lead(world, province="广东", city="深圳").owner_id == world.sam.user_id  # city beats province
        assert _lead(world, province="广东", city="广州").owner_id == world.sue.user_id
        assert _lead(world, province="北京").owner_id == world.olivia.user_id  # no rule matched: the creator
        assert south.matches(province="广西") and not sz.matches(province="广东")


def test_industry_rule_comes_before_round_robin_in_order(world):
    with workspace_context(world.ws_a):
        rule_create(
            actor=world.olivia,
            name="制造业",
            criterion="industry",
            industry="制造",
            member_ids=[world.mark.user_id],
            position=1,
        )
        rule_create(
            actor=world.olivia,
            name="轮询",
            criterion="any",
            member_ids=[world.sam.user_id, world.sue.user_id],
            position=2,
        )
        owners = [_lead(world).owner_id for _ in range(4)]
        assert owners == [world.sam.user_id, world.sue.user_id, world.sam.user_id, world.sue.user_id]
        assert _lead(world, industry="制造").owner_id == world.mark.user_id
        assert AssignmentRule.objects.get(name="轮询").rr_pointer == 4


def test_load_rule_picks_the_member_with_fewest_open_records(world, customers):
    with workspace_context(world.ws_a):
        for _ in range(2):
            lead_create(actor=world.sam, name="sam 的线索", phone="13800138001")
        opportunity_create(actor=world.sue, customer_id=customers["sue_c"].pk, name="sue 的商机")
        rule_create(
            actor=world.olivia,
            name="按负载",
            applies_to="opportunities",
            distribution="load",
            member_ids=[world.sam.user_id, world.sue.user_id],
        )
        opp = opportunity_create(actor=world.olivia, customer_id=customers["olivia_c"].pk, name="新商机")
        assert opp.owner_id == world.sue.user_id  # sue: 1 open, sam: 2 open
        # the rule applies to opportunities only: a new lead is not routed by it
        assert _lead(world).owner_id == world.olivia.user_id


def test_rules_need_members_and_admins(world):
    with workspace_context(world.ws_a):
        with pytest.raises(ValidationFailed) as exc:
            rule_create(actor=world.olivia, name="空", criterion="any")
        assert set(exc.value.fields) == {"member_ids"}
        with pytest.raises(ValidationFailed) as exc:
            rule_create(actor=world.olivia, name="x", criterion="industry", member_ids=[world.sam.user_id])
        assert set(exc.value.fields) == {"industry"}
        with pytest.raises(Forbidden):
            territory_create(actor=world.sam, name="我的地盘")
        with pytest.raises(ValidationFailed) as exc:
            territory_create(actor=world.olivia, name="外人", member_ids=[world.oscar.user_id])
        assert set(exc.value.fields) == {"member_ids"}
        assert not AssignmentRule.objects.exists() and not Territory.objects.exists()

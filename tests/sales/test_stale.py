"""Stale-opportunity alerts (销售过程监控): the periodic job flags idle open opportunities once and notifies owners."""

from __future__ import annotations

import datetime as dt
from unittest import mock

from django.utils import timezone

from guanxi.core.context import workspace_context
from guanxi.sales.models import Opportunity
from guanxi.sales.services import opportunity_record_activity, opportunity_update, pipeline_update
from guanxi.sales.tasks import flag_stale_everywhere


def _age(opp, days):
    Opportunity.all_workspaces.filter(pk=opp.pk).update(
        last_activity_at=timezone.now() - dt.timedelta(days=days)
    )


def test_idle_open_opportunities_are_flagged_once_and_owners_notified(
    world, sales, django_capture_on_commit_callbacks
):
    _age(sales.sam_opp, 20)  # the pipeline's default is 14 days
    _age(sales.sue_opp, 3)
    with mock.patch("guanxi.sales.services.opportunities.notify_user") as notify:
        with django_capture_on_commit_callbacks(execute=True):
            assert flag_stale_everywhere() == 1
        notify.assert_called_once()
        user_id, payload = notify.call_args.args
        assert user_id == world.sam.user_id and payload["opportunity_id"] == sales.sam_opp.pk
        with django_capture_on_commit_callbacks(execute=True):
            assert flag_stale_everywhere() == 0  # not flagged (or notified) twice
        assert notify.call_count == 1
    with workspace_context(world.ws_a):
        assert Opportunity.objects.get(pk=sales.sam_opp.pk).stale_since is not None
        assert Opportunity.objects.get(pk=sales.sue_opp.pk).stale_since is None
    board = world.client_for(world.olivia).get(f"/sales/pipelines/{sales.p.pk}/")
    assert [o.pk for o in board.context["board"].stale] == [sales.sam_opp.pk]


def test_activity_clears_the_flag_and_n_is_per_pipeline(world, sales):
    _age(sales.sam_opp, 20)
    flag_stale_everywhere()
    with workspace_context(world.ws_a):
        opportunity_update(actor=world.sam, opportunity_id=sales.sam_opp.pk, next_step="回访")
        assert Opportunity.objects.get(pk=sales.sam_opp.pk).stale_since is None
        pipeline_update(actor=world.olivia, pipeline_id=sales.p.pk, stale_days=30)
    _age(sales.sam_opp, 20)
    assert flag_stale_everywhere() == 0  # 20 < 30 days
    with workspace_context(world.ws_a):
        opportunity_record_activity(opportunity_id=sales.sam_opp.pk)
        assert Opportunity.objects.get(pk=sales.sam_opp.pk).last_activity_at > timezone.now() - dt.timedelta(
            minutes=1
        )

"""How profile rows are stored and replaced: a partition per run on PostgreSQL (dropped when replaced, invisible to
other workspaces), and stage changes written in bulk to the timeline (merged customers on the survivor, deleted ones
skipped, a retry adds nothing)."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from guanxi.analytics.models import AnalysisRun, CurrentRun, CustomerProfile
from guanxi.analytics.persist import partition_name
from guanxi.analytics.services.runs import analysis_run_execute, analysis_run_request
from guanxi.core.context import workspace_context
from guanxi.customers.models import Customer, Interaction
from guanxi.customers.timeline import interaction_record_many
from tests.analytics.factories import AS_OF, known_five, order


def _run(world, ws, actor) -> AnalysisRun:
    with workspace_context(ws):
        run = analysis_run_request(actor=actor, kinds="tiers,rfm,lifecycle", as_of=AS_OF)
    analysis_run_execute(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.messages
    return run


def _exists(table: str) -> bool:
    with connection.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", [table])
        return bool(cur.fetchone()[0])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL: partitions per run")
def test_each_run_gets_its_own_partition_and_a_rerun_drops_the_old_one(world):
    with workspace_context(world.ws_a):
        cs = known_five()
    with workspace_context(world.ws_b):
        b = Customer.objects.create(name="b1")
        order(b, 700, 3)
    first = _run(world, world.ws_a, world.olivia)
    other = _run(world, world.ws_b, world.oscar)
    assert _exists(partition_name(CustomerProfile, first.pk))
    with workspace_context(world.ws_a):
        order(cs["c4"], 900, 1)  # lost -> active
    second = _run(world, world.ws_a, world.olivia)
    assert _exists(partition_name(CustomerProfile, second.pk))
    assert not _exists(partition_name(CustomerProfile, first.pk))  # replaced: dropped, not row by row
    assert _exists(partition_name(CustomerProfile, other.pk))  # another workspace's current run is untouched
    with workspace_context(world.ws_a):
        assert CurrentRun.objects.get(kind="tiers").run_id == second.pk
        rows = {p.customer_id: p for p in CustomerProfile.objects.filter(run_id=second.pk)}
        assert len(rows) == 5 and rows[cs["c4"].pk].previous_stage == "lost"
        assert rows[cs["c4"].pk].stage == "active"
        # the policy holds on the parent: workspace B's partition is not visible from A, even unfiltered
        assert set(CustomerProfile.all_workspaces.values_list("workspace_id", flat=True)) == {world.ws_a.pk}
        # and the tenant role has no grant on a partition itself
        with pytest.raises(Exception, match="permission"), transaction.atomic(), connection.cursor() as cur:
            cur.execute(f"SELECT COUNT(*) FROM {partition_name(CustomerProfile, other.pk)}")  # noqa: S608
    with workspace_context(world.ws_b):
        assert CustomerProfile.objects.filter(run_id=other.pk).count() == 1


def test_stage_changes_are_written_in_bulk_on_the_survivor_and_once(world):
    with workspace_context(world.ws_a):
        cs = known_five()
    _run(world, world.ws_a, world.olivia)
    with workspace_context(world.ws_a):
        order(cs["c3"], 400, 5)  # sleeping -> active
        order(cs["c4"], 400, 5)  # lost -> active
        Customer.objects.filter(pk=cs["c4"].pk).update(merged_into=cs["c1"])
    second = _run(world, world.ws_a, world.olivia)
    with workspace_context(world.ws_a):
        got = sorted(
            (i.customer_id, i.data["from"], i.data["to"], i.external_key)
            for i in Interaction.objects.filter(source_type="analytics.stage")
        )
    assert got == sorted(
        [
            (cs["c3"].pk, "sleeping", "active", f"analytics:stage:{second.pk}:{cs['c3'].pk}"),
            (cs["c1"].pk, "lost", "active", f"analytics:stage:{second.pk}:{cs['c4'].pk}"),  # on the survivor
        ]
    )
    assert second.row_counts["profile.stage_changes"] == 2
    # a retry of the same entries adds nothing; a customer gone since is skipped
    entries = [
        (cs["c3"].pk, "x", {}, f"analytics:stage:{second.pk}:{cs['c3'].pk}"),
        (10**9, "x", {}, "k:gone"),
    ]
    with workspace_context(world.ws_a):
        offered = interaction_record_many(
            workspace=world.ws_a,
            kind="system",
            occurred_at=AS_OF,
            source_type="analytics.stage",
            source_id=str(second.pk),
            entries=entries,
        )
        assert offered == 1
        assert Interaction.objects.filter(source_type="analytics.stage").count() == 2


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL: insight partitions per run and kind"
)
def test_insights_get_a_partition_per_run_and_kind_and_a_rerun_of_one_kind_drops_only_that(world):
    from guanxi.analytics.models import CustomerInsight
    from tests.analytics.factories import shop

    with workspace_context(world.ws_a):
        shop(30)
        run = analysis_run_request(actor=world.olivia, kinds="clusters,clv", as_of=AS_OF)
    analysis_run_execute(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.messages
    for kind in ("clusters", "clv"):
        assert _exists(partition_name(CustomerInsight, run.pk, kind))
    with workspace_context(world.ws_a):
        again = analysis_run_request(actor=world.olivia, kinds="clv", as_of=AS_OF)
    analysis_run_execute(again.pk)
    assert _exists(partition_name(CustomerInsight, again.pk, "clv"))
    assert not _exists(partition_name(CustomerInsight, run.pk, "clv"))  # replaced: dropped
    assert _exists(partition_name(CustomerInsight, run.pk, "clusters"))  # still current: kept
    with workspace_context(world.ws_a):
        assert CustomerInsight.objects.filter(run_id=again.pk, kind="clv").count() == 30
        assert CustomerInsight.objects.filter(run_id=run.pk, kind="clusters").count() == 30
        assert not CustomerInsight.objects.filter(run_id=run.pk, kind="clv").exists()
        third = analysis_run_request(actor=world.olivia, kinds="clusters", as_of=AS_OF)
    analysis_run_execute(third.pk)
    assert not _exists(
        partition_name(CustomerInsight, run.pk)
    )  # its last kind replaced: the run's table goes
    with workspace_context(world.ws_b):  # the policy holds on the parent
        assert not CustomerInsight.objects.exists()
    with workspace_context(world.ws_a):
        assert CustomerInsight.objects.filter(run_id=third.pk, kind="clusters").count() == 30


def test_a_failing_step_leaves_no_insight_rows_and_the_previous_run_current(world, monkeypatch):
    """Nothing half-written: the step's rows (its partition on PostgreSQL) roll back with the step."""
    from guanxi.analytics.mining import clv as clv_mod
    from guanxi.analytics.models import CustomerInsight
    from tests.analytics.factories import shop

    with workspace_context(world.ws_a):
        shop(30)
        first = analysis_run_request(actor=world.olivia, kinds="clv", as_of=AS_OF)
    analysis_run_execute(first.pk)
    real = clv_mod.clv

    def broken(*a, **k):  # the model works, then the write fails half-way through the step
        out = real(*a, **k)
        return out.with_columns(clv_mod.pl.lit(None).alias("customer_id"))

    monkeypatch.setattr(clv_mod, "clv", broken)
    with workspace_context(world.ws_a):
        second = analysis_run_request(actor=world.olivia, kinds="clv", as_of=AS_OF)
    analysis_run_execute(second.pk)
    second.refresh_from_db()
    assert second.status == "failed" and any(m["level"] == "error" for m in second.messages)
    with workspace_context(world.ws_a):
        assert CurrentRun.objects.get(kind="clv").run_id == first.pk
        assert CustomerInsight.objects.filter(run_id=first.pk, kind="clv").count() == 30
        assert not CustomerInsight.objects.filter(run_id=second.pk).exists()
    if connection.vendor == "postgresql":
        assert not _exists(partition_name(CustomerInsight, second.pk, "clv"))
        assert not _exists(partition_name(CustomerInsight, second.pk))

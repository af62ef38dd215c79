"""The mining steps of a run: the algorithms' outputs stored as rows under the run and shown where users look."""

from __future__ import annotations

from guanxi.analytics.models import (
    AssociationRule,
    ClusterProfile,
    CurrentRun,
    CustomerInsight,
    SequencePattern,
)
from guanxi.analytics.services.runs import analysis_run_execute, analysis_run_request
from guanxi.core.context import workspace_context
from tests.analytics.factories import AS_OF, shop


def test_a_full_run_stores_rules_sequences_clusters_churn_and_clv(world, client):
    with workspace_context(world.ws_a):
        data = shop()
        run = analysis_run_request(actor=world.olivia, as_of=AS_OF)
    analysis_run_execute(run.pk)
    run.refresh_from_db()
    errors = [m for m in run.messages if m["level"] == "error"]
    assert run.status == "succeeded" and not errors, run.messages
    tea, pot = data["products"]["茶叶"].pk, data["products"]["茶壶"].pk
    with workspace_context(world.ws_a):
        current = dict(CurrentRun.objects.values_list("kind", "run_id"))
        assert {"tiers", "baskets", "sequences", "clusters", "clv"} <= set(current)
        rule = AssociationRule.objects.get(run_id=run.pk, antecedent=[tea], consequent=[pot])
        assert rule.confidence == 1.0 and rule.lift > 1
        assert SequencePattern.objects.filter(run_id=run.pk).exists()
        assert ClusterProfile.objects.filter(run_id=run.pk).count() >= 2
        assert CustomerInsight.objects.filter(run_id=run.pk, kind="clv").count() == 60
        churn = CustomerInsight.objects.filter(run_id=run.pk, kind="churn")
        churn_skipped = any(m["kind"] == "churn" and m["level"] == "warning" for m in run.messages)
        assert churn.exists() or churn_skipped
    from guanxi.workspaces.apikeys import apikey_create

    with workspace_context(world.ws_a):
        _k, plain = apikey_create(actor=world.olivia, name="t", scopes=["read"])
    h = {"HTTP_AUTHORIZATION": f"Bearer {plain}"}
    r = client.get("/api/v1/analytics/rules?limit=200", **h).json()["items"]
    assert any(i["antecedent"] == [tea] and i["consequent"] == [pot] and i["run_id"] == run.pk for i in r)
    assert client.get("/api/v1/analytics/clusters", **h).json()["items"][0]["text_en"]
    profile = client.get(f"/api/v1/customers/{data['customers'][1].pk}", **h).json()["profile"]
    assert profile["clv"]["run_id"] == run.pk and profile["cluster"]["why"]
    page = world.client_for(world.olivia).get("/analytics/")
    assert page.status_code == 200 and "chart-rules" in page.content.decode()

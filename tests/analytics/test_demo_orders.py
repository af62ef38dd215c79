"""`guanxi demo` brings order history and queues one analysis run, so the demo dashboards are not empty."""

from __future__ import annotations

from guanxi.analytics.models import AnalysisRun, CurrentRun
from guanxi.analytics.services.runs import analysis_run_execute
from guanxi.core.context import workspace_context
from guanxi.sales.models import Order, OrderLine, OrderReturn, Product
from guanxi.web.demo import DEMO_COMPANY, load_demo
from guanxi.workspaces.models import Workspace


def test_the_demo_has_orders_and_its_queued_run_fills_the_dashboards(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        load_demo(customers=60)
    ws = Workspace.objects.get(name=DEMO_COMPANY)
    with workspace_context(ws):
        assert Product.objects.count() == 8
        assert Order.objects.count() >= 60 and OrderLine.objects.count() > Order.objects.count()
        assert OrderReturn.objects.exists()
        assert not AnalysisRun.objects.exists()  # queued only after commit
    for cb in callbacks:
        cb()
    with workspace_context(ws):
        run = AnalysisRun.objects.get()
        assert run.trigger == "demo" and run.status == "queued"
    run = analysis_run_execute(run.pk)  # what the job does
    assert run.status in ("succeeded", "partial"), run.messages
    with workspace_context(ws):
        current = set(CurrentRun.objects.values_list("kind", flat=True))
    assert {"tiers", "rfm", "lifecycle", "baskets", "forecast"} <= current
    again = load_demo(customers=60)  # idempotent: no second batch of orders
    assert not again["created"]
    with workspace_context(ws):
        assert Product.objects.count() == 8

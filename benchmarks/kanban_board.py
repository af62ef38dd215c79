"""Kanban board of a pipeline with 100,000 open opportunities: server time of the board page.

    GUANXI_DATABASE_URL=postgres://postgres@127.0.0.1:5432/guanxi_sales GUANXI_DATA_DIR=/tmp/gx-sales-bench \
        .venv/bin/python benchmarks/kanban_board.py [--opportunities 100000] [--runs 9]

Builds its data once (workspace "bench-kanban": 2,000 customers, 10 sales members, one pipeline of six stages and
N open opportunities over the four open stages, loaded with COPY on PostgreSQL, bulk_create on SQLite), VACUUM
ANALYZE, then measures, warm:

- ``baseline_single_row_ms``: one opportunity fetched by primary key through the ORM (the cheapest request);
- ``board_queries_ms``: ``board_for`` (GROUP BY stage, currency on opp_board_totals_idx + first 20 cards of every
  column on opp_board_cards_idx);
- ``board_page_ms``: GET /sales/pipelines/<id>/ through Django's full stack (middleware, session, permission
  checks, the template) as the workspace owner (workspace scope: every row counts);
- ``board_page_rep_ms``: the same page as a sales rep (own/team scope: owner_id IN (...)).

Prints one JSON object per figure (median, min, max of --runs runs) and a summary line with the ratio to the
baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guanxi.settings")
os.environ.setdefault("GUANXI_LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from guanxi.core.context import workspace_context  # noqa: E402
from guanxi.customers.models import Customer  # noqa: E402
from guanxi.sales.models import Opportunity, Pipeline, Stage, StageKind  # noqa: E402
from guanxi.sales.selectors import board_for  # noqa: E402
from guanxi.sales.services import pipeline_create  # noqa: E402
from guanxi.workspaces.models import Membership, User, Workspace  # noqa: E402
from guanxi.workspaces.permissions import Role  # noqa: E402
from guanxi.workspaces.services import workspace_create  # noqa: E402

SLUG_NAME = "Bench Kanban 看板基准"
COLUMNS = [
    "workspace_id",
    "customer_id",
    "pipeline_id",
    "stage_id",
    "name",
    "amount",
    "currency",
    "expected_close_date",
    "owner_id",
    "competitors",
    "next_step",
    "loss_reason",
    "status",
    "stage_entered_at",
    "last_activity_at",
    "created_at",
    "updated_at",
]


def emit(**fields: object) -> None:
    print(json.dumps(fields, ensure_ascii=False), flush=True)


def _user(name: str) -> User:
    user = User.objects.filter(username=name).first()
    return user or User.objects.create_user(username=name, password=None, email=f"{name}@bench.example")


def build(n: int) -> tuple[Workspace, Pipeline]:
    ws = Workspace.objects.filter(name=SLUG_NAME).first()
    if ws is not None:
        with workspace_context(ws):
            pipeline = Pipeline.objects.get(name="Bench")
            have = Opportunity.objects.filter(pipeline=pipeline).count()
        if have == n:
            emit(step="reuse", opportunities=have)
            return ws, pipeline
        Workspace.objects.filter(pk=ws.pk).delete()
    started = time.perf_counter()
    ws, owner = workspace_create(name=SLUG_NAME, owner=_user("bench_kanban_owner"))
    rng = random.Random(42)
    with workspace_context(ws):
        reps = [
            Membership.objects.create(user=_user(f"bench_kanban_rep{i}"), role=Role.SALES).user_id
            for i in range(10)
        ]
        Customer.objects.bulk_create(
            [Customer(workspace=ws, name=f"客户{i:05d}", owner_id=reps[i % 10]) for i in range(2000)],
            batch_size=1000,
        )
        customer_ids = list(Customer.objects.values_list("id", flat=True))
        pipeline = pipeline_create(actor=owner, name="Bench")
        open_stages = list(Stage.objects.filter(pipeline=pipeline, kind=StageKind.OPEN).order_by("position"))
        weights = [40, 30, 20, 10]
        now = timezone.now()
        rows = []
        for i in range(n):
            stage = rng.choices(open_stages, weights)[0]
            entered = now - timedelta(minutes=rng.randrange(0, 60 * 24 * 180))
            rows.append(
                (
                    ws.pk,
                    rng.choice(customer_ids),
                    pipeline.pk,
                    stage.pk,
                    f"商机 {i:06d}",
                    Decimal(rng.randrange(1000, 5_000_000)) / 100,
                    "CNY",
                    (now + timedelta(days=rng.randrange(1, 200))).date(),
                    rng.choice(reps),
                    "",
                    "",
                    "",
                    "open",
                    entered,
                    entered,
                    entered,
                    entered,
                )
            )
        if connection.vendor == "postgresql":
            with transaction.atomic(), connection.cursor() as cur:
                cols = ", ".join(COLUMNS)
                with cur.cursor.copy(f"COPY sales_opportunity ({cols}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            with connection.cursor() as cur:
                cur.execute("VACUUM ANALYZE sales_opportunity")
        else:
            Opportunity.objects.bulk_create(
                [Opportunity(**dict(zip(COLUMNS, r, strict=True))) for r in rows], batch_size=2000
            )
            with connection.cursor() as cur:
                cur.execute("ANALYZE")
    emit(step="build", opportunities=n, seconds=round(time.perf_counter() - started, 1))
    return ws, pipeline


def timed(fn, runs: int, warmup: int = 2) -> dict[str, float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return {
        "median_ms": round(statistics.median(samples), 2),
        "min_ms": round(min(samples), 2),
        "max_ms": round(max(samples), 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--opportunities", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    ws, pipeline = build(args.opportunities)
    owner = Membership.all_workspaces.select_related("user", "workspace").get(workspace=ws, role=Role.OWNER)
    rep = (
        Membership.all_workspaces.select_related("user", "workspace")
        .filter(workspace=ws, role=Role.SALES)
        .first()
    )
    with workspace_context(ws):
        some_id = Opportunity.objects.filter(pipeline=pipeline).values_list("id", flat=True).first()
        baseline = timed(lambda: Opportunity.objects.get(pk=some_id), max(args.runs, 50))
        queries = timed(lambda: board_for(actor=owner, pipeline=pipeline), args.runs)
        board = board_for(actor=owner, pipeline=pipeline)
    url = f"/sales/pipelines/{pipeline.pk}/"
    results = {}
    for label, member in (("board_page_ms", owner), ("board_page_rep_ms", rep)):
        client = Client()
        client.force_login(member.user)

        def get(client: Client = client) -> None:
            r = client.get(url)
            assert r.status_code == 200, r.status_code

        results[label] = timed(get, args.runs)
    emit(figure="baseline_single_row_ms", **baseline)
    emit(figure="board_queries_ms", **queries)
    for label, figures in results.items():
        emit(figure=label, **figures)
    emit(
        summary="kanban_board",
        database=connection.vendor,
        opportunities=board.count,
        columns=len(board.columns),
        cards_per_column=[len(c.cards) for c in board.columns],
        board_page_median_ms=results["board_page_ms"]["median_ms"],
        ratio_to_baseline=round(results["board_page_ms"]["median_ms"] / baseline["median_ms"], 1),
        under_300_ms=results["board_page_ms"]["median_ms"] < 300,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

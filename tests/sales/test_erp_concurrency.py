"""The same ERP order sent concurrently is stored once: the unique constraint decides, the loser re-reads and updates."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from guanxi.core.context import workspace_context
from guanxi.customers.models import Customer, Interaction
from guanxi.sales.models import Order, OrderLine
from guanxi.sales.services import erp
from tests.sales.cash import Catalogue

N = 4


@pytest.mark.django_db(transaction=True)
def test_concurrent_syncs_of_one_new_order_store_one_row(world, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so the race cannot happen there")
    Catalogue(world)
    with workspace_context(world.ws_a):
        Customer.objects.create(name="赵六贸易", external_id="C-1001", owner=world.sue.user)
    body = {
        "customer_external_id": "C-1001",
        "ordered_at": "2022-01-02",
        "lines": [
            {"line_no": "1", "sku": "ERP-01", "quantity": "2", "unit_price": "1000.00"},
            {"line_no": "2", "sku": "SVC-01", "quantity": "1", "unit_price": "1500.00"},
        ],
    }
    # Every thread that found no row waits here until all have: they then insert together, so all but one
    # must lose on the unique constraint (order_unique_external_id) and take the re-read path.
    gate = threading.Barrier(N, timeout=20)
    real_allocate = erp.allocate_ids

    def allocate_after_all_looked(model, count):
        gate.wait()
        return real_allocate(model, count)

    monkeypatch.setattr(erp, "allocate_ids", allocate_after_all_looked)
    results, errors = [], []

    def worker():
        from django.db import connection as conn

        try:
            with workspace_context(world.ws_a):
                results.append(erp.erp_order_upsert(actor=world.olivia, external_id="RACE-1", data=body))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=worker) for _ in range(N)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sorted(r.result for r in results) == ["created"] + ["unchanged"] * (N - 1)
    assert len({r.order.pk for r in results}) == 1
    assert Order.all_workspaces.filter(external_id="RACE-1").count() == 1
    assert OrderLine.all_workspaces.filter(order__external_id="RACE-1").count() == 2
    assert Interaction.all_workspaces.filter(external_key="erp:order:RACE-1").count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_changed_versions_leave_one_order_with_one_version(world):
    """Two different versions of one order at once: one row, and its lines are one version's, not a mix."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so the race cannot happen there")
    Catalogue(world)
    with workspace_context(world.ws_a):
        Customer.objects.create(name="赵六贸易", external_id="C-1001", owner=world.sue.user)

    def body(qty):
        return {
            "customer_external_id": "C-1001",
            "ordered_at": "2022-01-02",
            "lines": [
                {"line_no": str(i), "sku": "ERP-01", "quantity": qty, "unit_price": "10.00"}
                for i in (1, 2, 3)
            ],
        }

    gate = threading.Barrier(N, timeout=20)
    errors = []

    def worker(qty):
        from django.db import connection as conn

        try:
            gate.wait()
            with workspace_context(world.ws_a):
                erp.erp_order_upsert(actor=world.olivia, external_id="RACE-2", data=body(qty))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(str(i + 1),)) for i in range(N)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    order = Order.all_workspaces.get(external_id="RACE-2")
    quantities = set(OrderLine.all_workspaces.filter(order=order).values_list("quantity", flat=True))
    assert len(quantities) == 1 and OrderLine.all_workspaces.filter(order=order).count() == 3
    assert order.subtotal == 3 * 10 * quantities.pop()

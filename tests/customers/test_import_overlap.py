"""The import's faster paths: chunks prepared one ahead in a second thread, set-based look-ups, direct COPY."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.utils import translation

from guanxi.core.context import workspace_context
from guanxi.customers.importing import services
from guanxi.customers.importing.bulk import bulk_insert, lookup
from guanxi.customers.importing.rows import RowPreparer
from guanxi.customers.models import Customer, CustomerAddress, CustomerPhone


def test_prefetch_thread_yields_every_chunk_in_order_in_the_callers_language():
    """Chunks come back in file order, each prepared; a row's reason is in the language the job runs in (the
    thread activates it: Django's active language is per thread)."""
    preparer = RowPreparer({"0": "name", "1": "phone"}, [])
    chunks = [
        [(2, ["张三", "13800138000"]), (3, ["", "13800138001"])],
        [(4, ["李四", "bad"])],
        [(5, ["王五", ""])],
    ]
    with translation.override("zh-hans"):
        got = list(services._prefetched_chunks(iter(chunks), preparer))
    assert [items for items, _p in got] == chunks
    rows = [row for _items, prepared in got for row in prepared]
    assert [(r[0], r[2] is not None) for r in rows] == [(2, True), (3, False), (4, False), (5, True)]
    missing_name = rows[1][3][0]
    assert missing_name.field == "name"
    with translation.override("zh-hans"):
        assert missing_name.message == str(translation.gettext("a name is required"))
    assert missing_name.message != "a name is required"  # Chinese, not the English source text


def test_prefetch_thread_hands_a_reading_error_to_the_caller_at_its_chunk():
    preparer = RowPreparer({"0": "name"}, [])

    def chunks():  # type: ignore[no-untyped-def]
        yield [(2, ["张三"])]
        raise UnicodeDecodeError("gb18030", b"\xff", 0, 1, "illegal multibyte sequence")

    it = services._prefetched_chunks(chunks(), preparer)
    items, _prepared = next(it)
    assert items == [(2, ["张三"])]
    with pytest.raises(UnicodeDecodeError):
        next(it)


def test_prefetch_thread_stops_when_the_caller_stops_early():
    """A job that stops (crash, another worker took it) closes the generator: the thread ends, and reads at most
    one chunk beyond the last one handed out."""
    preparer = RowPreparer({"0": "name"}, [])
    read = []

    def chunks():  # type: ignore[no-untyped-def]
        for i in range(100):
            read.append(i)
            yield [(i + 2, [f"客户{i}"])]

    it = services._prefetched_chunks(chunks(), preparer)
    next(it)
    it.close()
    assert len(read) <= 3


def test_lookup_matches_whole_values_once_each(world):
    """Repeated values give each matching row once; a value longer than a stored one never matches it (the values
    are compared as text, not cut to the column's length)."""
    with workspace_context(world.ws_a):
        c = Customer.objects.create(name="赵六", owner=world.olivia.user)
        CustomerPhone.objects.create(customer=c, e164="+8613800138000")
        got = lookup(CustomerPhone, "e164", ["+8613800138000", "+8613800138000", "+8613800138000" + "9" * 40],
                     ("e164", "customer_id"))  # fmt: skip
        assert got == [("+8613800138000", c.pk)]
        assert lookup(CustomerPhone, "customer_id", [c.pk, c.pk], ("customer_id", "e164")) == [
            (c.pk, "+8613800138000")
        ]
    with workspace_context(world.ws_b):  # another workspace's look-up never sees it
        assert lookup(CustomerPhone, "e164", ["+8613800138000"], ("e164", "customer_id")) == []


def test_direct_copy_refuses_a_row_of_another_workspace_and_writes_nothing(world):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the direct COPY as the tables' owner exists only there")
    with workspace_context(world.ws_a):
        c = Customer.objects.create(name="钱七", owner=world.olivia.user)
        rows = [
            {"workspace_id": world.ws_a.pk, "customer_id": c.pk, "city": "上海"},
            {"workspace_id": world.ws_b.pk, "customer_id": c.pk, "city": "北京"},
        ]
        with pytest.raises(ValueError, match="another workspace"), transaction.atomic():
            bulk_insert(CustomerAddress, rows, direct=True)
        assert not CustomerAddress.objects.filter(customer=c).exists()
        bulk_insert(CustomerAddress, rows[:1], direct=True)
        assert list(CustomerAddress.objects.filter(customer=c).values_list("city", flat=True)) == ["上海"]

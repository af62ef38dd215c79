"""Order imports (订单导入): CSV/XLSX of order lines, idempotent on (order id, line), resumable, with a report."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest

from guanxi import cli
from guanxi.core.context import workspace_context
from guanxi.core.errors import ValidationFailed
from guanxi.customers.models import Customer, CustomerEmail, CustomerPhone, Interaction
from guanxi.sales.importing.services import (
    SimulatedCrash,
    order_import_create,
    order_import_run,
    order_import_start,
)
from guanxi.sales.models import Order, OrderImportJob, OrderLine, Product
from guanxi.sales.services.erp import erp_order_upsert
from tests.sales.cash import Catalogue

pytestmark = pytest.mark.django_db
HEADER = [
    "订单号",
    "行号",
    "客户编号",
    "手机",
    "邮箱",
    "订单日期",
    "SKU",
    "产品名称",
    "数量",
    "单价",
    "状态",
    "币种",
]
GOOD = [
    ["SO-2019-1", "1", "C-1", "", "", "2019-03-01", "ERP-01", "", "2", "1000.00", "已完成", "CNY"],
    ["SO-2019-1", "2", "C-1", "", "", "2019-03-01", "SVC-01", "", "3", "1500.00", "已完成", "CNY"],
    ["SO-2021-7", "1", "", "13700137000", "", "2021/07/15", "", "实施服务", "1.5", "1400.00", "", ""],
    ["SO-2024-2", "1", "", "", "Buyer@Zhao6.cn", "2024-02-29", "ERP-01", "", "1", "999.99", "shipped", "CNY"],
]


def csv_file(
    tmp_path: Path, rows: list[list[str]], name="orders.csv", header=HEADER, encoding="utf-8"
) -> Path:
    path = tmp_path / name
    with path.open("w", encoding=encoding, newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture
def erp_world(world):
    cat = Catalogue(world)
    with workspace_context(world.ws_a):
        c = Customer.objects.create(name="赵六贸易", external_id="C-1", owner=world.sue.user)
        CustomerPhone.objects.create(customer=c, e164="+8613700137000", raw="13700137000")
        CustomerEmail.objects.create(customer=c, email="buyer@zhao6.cn")
    return cat, c


def run_import(world, path: Path, *, member=None, chunk_size=1000, **start):
    member = member or world.olivia
    with workspace_context(world.ws_a), path.open("rb") as fh:
        job = order_import_create(actor=member, file_name=path.name, chunks=fh)
        order_import_start(actor=member, job_id=job.pk, enqueue=False, **start)
    return order_import_run(job.pk, chunk_size=chunk_size)


def state(world):
    with workspace_context(world.ws_a):
        return (
            Order.objects.count(),
            OrderLine.objects.count(),
            Interaction.objects.filter(source_type="sales.order").count(),
            Customer.objects.count(),
            Product.objects.count(),
        )


def test_import_writes_orders_lines_totals_and_timeline_once(world, erp_world, tmp_path):
    _cat, cust = erp_world
    job = run_import(world, csv_file(tmp_path, GOOD))
    assert job.status == "done", job.error
    assert (job.orders_created, job.lines_written, job.rejected_count) == (3, 4, 0)
    with workspace_context(world.ws_a):
        o = Order.objects.get(external_id="SO-2019-1")
        assert (o.customer_id, o.source, o.status, o.currency, o.owner_id) == (
            cust.pk, "import", "delivered", "CNY", world.sue.user_id)  # fmt: skip
        assert o.ordered_at.year == 2019 and o.number == f"E{o.pk}"
        # 2 x 1000 at 13 % + 3 x 1500 at 6 %, computed here
        assert (o.subtotal, o.tax_total, o.total) == (
            Decimal("6500.00"),
            Decimal("530.00"),
            Decimal("7030.00"),
        )
        assert list(o.lines.values_list("line_key", flat=True)) == ["1", "2"]
        o2 = Order.objects.get(external_id="SO-2021-7")  # matched by phone, product by name
        assert o2.customer_id == cust.pk and o2.total == Decimal("2100.00") + Decimal("126.00")
        assert Order.objects.get(external_id="SO-2024-2").status == "shipped"
        keys = set(
            Interaction.objects.filter(customer=cust, kind="order").values_list("external_key", flat=True)
        )
        assert keys == {"erp:order:SO-2019-1", "erp:order:SO-2021-7", "erp:order:SO-2024-2"}


def test_importing_the_same_file_twice_creates_nothing(world, erp_world, tmp_path):
    path = csv_file(tmp_path, GOOD)
    run_import(world, path)
    before = state(world)
    again = run_import(world, path)
    assert (again.orders_created, again.orders_updated, again.orders_unchanged, again.lines_written) == (
        0,
        0,
        3,
        0,
    )
    assert state(world) == before


def test_a_changed_line_is_updated_and_an_erp_synced_order_stays_one(world, erp_world, tmp_path):
    with workspace_context(world.ws_a):
        erp_order_upsert(
            actor=world.olivia,
            external_id="SO-2019-1",
            data={"customer_external_id": "C-1", "ordered_at": "2019-03-01", "status": "delivered",
                  "lines": [{"line_no": "1", "sku": "ERP-01", "quantity": "2", "unit_price": "1000.00"}]},
        )  # fmt: skip
    rows = [list(r) for r in GOOD]
    rows[0][8] = "4"  # line 1 now 4 pieces; line 2 is new
    job = run_import(world, csv_file(tmp_path, rows))
    assert (job.orders_created, job.orders_updated) == (2, 1)
    with workspace_context(world.ws_a):
        o = Order.objects.get(external_id="SO-2019-1")
        assert o.source == "erp" and o.lines.count() == 2
        assert o.subtotal == Decimal("4000.00") + Decimal("4500.00")
        assert o.total == Decimal("4520.00") + Decimal("4770.00")
        assert Interaction.objects.filter(external_key="erp:order:SO-2019-1").count() == 1


def test_bad_rows_are_rejected_with_reasons_and_reject_their_whole_order(world, erp_world, tmp_path):
    rows = [
        *GOOD,
        ["BAD-Q", "1", "C-1", "", "", "2020-01-01", "ERP-01", "", "-3", "10.00", "", ""],  # negative quantity
        ["BAD-Q", "2", "C-1", "", "", "2020-01-01", "ERP-01", "", "1", "10.00", "", ""],
        ["BAD-D", "1", "C-1", "", "", "2020-02-30", "ERP-01", "", "1", "10.00", "", ""],  # no such date
        ["BAD-P", "1", "C-1", "", "", "2020-01-01", "NOPE-1", "", "1", "10.00", "", ""],  # unknown product
        ["BAD-C", "1", "C-1", "", "", "2020-01-01", "ERP-01", "", "1", "10.00", "", "CNY"],
        [
            "BAD-C",
            "2",
            "C-1",
            "",
            "",
            "2020-01-01",
            "ERP-01",
            "",
            "1",
            "10.00",
            "",
            "USD",
        ],  # mixed currencies
        ["BAD-U", "1", "C-404", "", "", "2020-01-01", "ERP-01", "", "1", "10.00", "", ""],  # unknown customer
        ["BAD-L", "1", "C-1", "", "", "2020-01-01", "ERP-01", "", "1", "10.00", "", ""],
        ["BAD-L", "1", "C-1", "", "", "2020-01-01", "ERP-01", "", "2", "10.00", "", ""],  # line twice
    ]
    job = run_import(world, csv_file(tmp_path, rows))
    assert (job.orders_created, job.rejected_count) == (3, 9)
    with workspace_context(world.ws_a):
        assert not Order.objects.filter(external_id__startswith="BAD").exists()
    report = list(csv.reader(io.StringIO(Path(job.rejected_path).read_text(encoding="utf-8-sig"))))
    assert report[0][:3] == ["Row", "Field", "Reason"]
    by_row = {int(r[0]): (r[1], r[2]) for r in report[1:]}
    assert by_row[6] == ("quantity", "Enter a quantity greater than 0.")
    assert by_row[7][0] == "order_id" and "row 6" in by_row[7][1]
    assert by_row[8][0] == "ordered_at"
    assert by_row[9][0] == "sku" and "NOPE-1" in by_row[9][1] and "--create-products" in by_row[9][1]
    assert by_row[10][0] == "currency" and "CNY, USD" in by_row[10][1]
    assert by_row[12][0] == "customer_external_id" and "--create-customers" in by_row[12][1]
    assert by_row[14][0] == "line_no"


def test_create_customers_and_products_only_when_asked(world, erp_world, tmp_path):
    rows = [["N-1", "1", "C-NEW", "", "", "2018-06-01", "NEW-SKU", "新产品", "2", "50.00", "", ""]]
    path = csv_file(tmp_path, rows)
    before = state(world)
    job = run_import(world, path)
    assert job.rejected_count == 1 and state(world) == before
    job = run_import(world, path, create_customers=True, create_products=True)
    assert (job.orders_created, job.customers_created, job.rejected_count) == (1, 1, 0)
    with workspace_context(world.ws_a):
        o = Order.objects.get(external_id="N-1")
        assert o.customer.external_id == "C-NEW" and o.customer.owner_id == world.olivia.user_id
        p = Product.objects.get(sku="NEW-SKU")
        assert p.name == "新产品" and p.list_price == Decimal("50.00")


def test_a_killed_import_resumes_without_doubling(world, erp_world, tmp_path):
    rows = []
    for i in range(60):
        for ln in (1, 2):
            rows.append([f"R-{i}", str(ln), "C-1", "", "", f"20{10 + i % 14}-01-0{1 + ln}", "ERP-01", "", "1", "10.00",
                         "", ""])  # fmt: skip
    path = csv_file(tmp_path, rows)
    with workspace_context(world.ws_a), path.open("rb") as fh:
        job = order_import_create(actor=world.olivia, file_name="r.csv", chunks=fh)
        order_import_start(actor=world.olivia, job_id=job.pk, enqueue=False)
    with pytest.raises(SimulatedCrash):
        order_import_run(job.pk, chunk_size=25, crash_after_chunks=2)
    with workspace_context(world.ws_a):
        half = OrderImportJob.objects.get(pk=job.pk)
        assert (
            half.status == "running" and 0 < half.next_row < 120 and half.next_row % 2 == 0
        )  # orders kept whole
        assert Order.objects.count() == half.next_row // 2
    job = order_import_run(job.pk, chunk_size=25)
    assert job.status == "done" and job.orders_created == 60 and job.lines_written == 120
    with workspace_context(world.ws_a):
        assert (Order.objects.count(), OrderLine.objects.count()) == (60, 120)
        assert Interaction.objects.filter(source_type="sales.order").count() == 60


def test_without_a_line_number_column_lines_are_numbered_in_file_order(world, erp_world, tmp_path):
    header = ["order id", "customer id", "order date", "sku", "qty", "price"]
    rows = [
        ["A-1", "C-1", "2017-01-01", "ERP-01", "1", "1.00"],
        ["A-1", "C-1", "2017-01-01", "ERP-01", "2", "1.00"],
    ]
    path = csv_file(tmp_path, rows, header=header)
    job = run_import(world, path, chunk_size=1)
    assert job.orders_created == 1, job.error
    job = run_import(world, path, chunk_size=1)
    assert job.orders_unchanged >= 1 and job.orders_created == 0
    with workspace_context(world.ws_a):
        assert list(OrderLine.objects.order_by("line_key").values_list("line_key", "quantity")) == [
            ("1", Decimal("1.000")), ("2", Decimal("2.000"))]  # fmt: skip


def test_xlsx_and_gbk_csv_are_read(world, erp_world, tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(HEADER)
    ws.append(["X-1", 1, "C-1", None, None, __import__("datetime").date(2016, 5, 6), "ERP-01", None, 3, 12.5, None,
               None])  # fmt: skip
    wb.save(tmp_path / "o.xlsx")
    job = run_import(world, tmp_path / "o.xlsx")
    assert job.orders_created == 1 and job.rejected_count == 0, job.error
    job = run_import(world, csv_file(tmp_path, GOOD, name="gbk.csv", encoding="gbk"))
    assert job.orders_created == 3


def test_mapping_without_required_columns_is_refused_naming_them(world, erp_world, tmp_path):
    path = csv_file(tmp_path, GOOD[:1], header=["x", "y", "z", "a", "b", "c", "d", "e", "f", "g", "h", "i"])
    with workspace_context(world.ws_a), path.open("rb") as fh:
        job = order_import_create(actor=world.olivia, file_name="o.csv", chunks=fh)
        with pytest.raises(ValidationFailed) as exc:
            order_import_start(actor=world.olivia, job_id=job.pk, enqueue=False)
    assert {"order_id", "ordered_at", "quantity", "unit_price", "customer", "sku"} <= set(exc.value.fields)


def test_only_workspace_wide_sales_editors_may_import(world, erp_world, tmp_path):
    from guanxi.core.errors import Forbidden

    with workspace_context(world.ws_a), pytest.raises(Forbidden):
        order_import_create(actor=world.sam, file_name="o.csv", chunks=[b"a,b\n1,2\n"])


def test_cli_import_orders_json_and_second_run(world, erp_world, tmp_path, capsys):
    path = csv_file(
        tmp_path, [*GOOD, ["BAD", "1", "C-1", "", "", "bad-date", "ERP-01", "", "1", "1", "", ""]]
    )
    rc = cli.main(["import", "orders", str(path), "--workspace", world.ws_a.slug, "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["status"] == "done"
    assert (out["orders_created"], out["lines_written"], out["rejected"]) == (3, 4, 1)
    assert Path(out["rejected_file"]).read_text(encoding="utf-8-sig").count("\n") == 2
    rc = cli.main(["import", "orders", str(path), "--workspace", world.ws_a.slug, "--json"])
    out = json.loads(capsys.readouterr().out)
    assert (out["orders_created"], out["orders_unchanged"]) == (0, 3)
    with workspace_context(world.ws_a):
        assert Order.objects.count() == 3


def erp_objects(world, objs) -> dict:
    """An ERP-synced order and an order import job in workspace A, for the isolation walk (tests/test_isolation.py)."""
    with workspace_context(world.ws_a):
        order = erp_order_upsert(
            actor=world.olivia,
            external_id="ERP-A-1",
            data={"customer_id": objs["sam_c"].pk, "ordered_at": "2020-01-01",
                  "lines": [{"sku": objs["product"].sku, "quantity": "1", "unit_price": "10.00"}]},
        ).order  # fmt: skip
        job = OrderImportJob.objects.create(
            created_by=world.olivia.user, file_name="a.csv", file_path="/nonexistent/a.csv", file_sha256="0" * 64,
            file_format="csv", headers=["订单号"], mapping={"0": "order_id"},
        )  # fmt: skip
    return {"erp_order": order, "order_import_job": job}


def test_utf8_and_gbk_files_are_read_by_polars_and_an_odd_file_by_the_reader(world, erp_world, tmp_path):
    from guanxi.sales.importing import services

    names = [f"c{i}" for i in range(len(HEADER))]
    for path in (csv_file(tmp_path, GOOD), csv_file(tmp_path, GOOD, name="g.csv", encoding="gb18030")):
        with workspace_context(world.ws_a), path.open("rb") as fh:
            job = order_import_create(actor=world.olivia, file_name=path.name, chunks=fh)
        df = services._polars_csv(job, names)
        assert df is not None and df.height == 4 and df.get_column("c7").to_list()[2] == "实施服务"
        assert services.load_rows(job).get_column("_row").to_list() == [2, 3, 4, 5]
    job.total_rows = 5  # the reader counted otherwise: the reader's rows are used
    assert services._polars_csv(job, names) is None
    assert services.load_rows(job).height == 4


def test_a_line_too_large_for_the_books_is_refused_naming_the_row(world, erp_world, tmp_path):
    rows = [["HUGE", "1", "C-1", "", "", "2020-01-01", "ERP-01", "", "99999999999", "9999999999999999.00", "", ""],
            ["HUGE", "2", "C-1", "", "", "2020-01-01", "ERP-01", "", "1", "1.00", "", ""], GOOD[0]]  # fmt: skip
    before = state(world)
    job = run_import(world, csv_file(tmp_path, rows))
    assert (job.orders_created, job.rejected_count) == (1, 2)
    report = list(csv.reader(io.StringIO(Path(job.rejected_path).read_text(encoding="utf-8-sig"))))
    assert report[1][:3] == ["2", "quantity", "The line's amount is too large."]
    assert state(world)[0] == before[0] + 1


def test_an_order_already_on_the_timeline_is_not_put_there_twice(world, erp_world, tmp_path):
    from django.utils import timezone

    _cat, cust = erp_world
    with workspace_context(world.ws_a):  # e.g. synced from the ERP once, the order later deleted by hand
        Interaction.objects.create(customer=cust, kind="order", occurred_at=timezone.now(),
                                   external_key="erp:order:SO-2019-1", subject="ERP")  # fmt: skip
    job = run_import(world, csv_file(tmp_path, GOOD))
    assert job.orders_created == 3 and job.status == "done"
    with workspace_context(world.ws_a):
        assert Interaction.objects.filter(external_key="erp:order:SO-2019-1").count() == 1
        assert Interaction.objects.filter(external_key="erp:order:SO-2021-7").count() == 1


def test_the_chunk_holds_its_customers_and_fails_for_one_gone_meanwhile(world, erp_world):
    """The set-based stand-in for the orders' foreign-key check (PostgreSQL; SQLite's write lock covers it)."""
    from django.db import IntegrityError, connection, transaction

    from guanxi.sales.importing.chunk import _hold_customers

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: on SQLite the chunk holds the database's write lock")
    _cat, cust = erp_world
    with workspace_context(world.ws_a):
        gone = Customer.objects.create(name="已删除", owner=world.sue.user)
        merged = Customer.objects.create(name="已合并", owner=world.sue.user, merged_into=cust)
        gone_id = gone.pk
        gone.delete()
        with transaction.atomic():
            _hold_customers([cust.pk])  # all there: nothing raised
        for ids in ([cust.pk, gone_id], [cust.pk, merged.pk]):
            with pytest.raises(IntegrityError), transaction.atomic():
                _hold_customers(ids)

"""Customer export: CSV with BOM, XLSX, vCard; masking by personal-data scope; formula neutralising; audit."""

from __future__ import annotations

import csv
import io

import pytest

from guanxi.core.context import workspace_context
from guanxi.core.errors import ValidationFailed
from guanxi.customers.exporting import export_stream
from guanxi.customers.models import Customer, CustomerTag, Tag
from guanxi.ledger.models import AuditEvent


@pytest.fixture
def people(world):
    with workspace_context(world.ws_a):
        a = Customer.objects.create(name="张三丰", phone="+8613800138000", email="zsf@example.com",
                                    city="十堰", owner=world.sam.user)  # fmt: skip
        Customer.objects.create(
            name="=cmd|' /C calc'!A0", phone="+8613900139000", city="北京", owner=world.sue.user
        )
        tag = Tag.objects.create(name="VIP")
        CustomerTag.objects.create(customer=a, tag=tag)
    with workspace_context(world.ws_b):
        Customer.objects.create(name="Outsider Co", owner=world.oscar.user)
    return a


def export(member, fmt="csv", **filters):
    with workspace_context(member.workspace):
        return b"".join(export_stream(actor=member, fmt=fmt, filters=filters))


def rows(data: bytes):
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def test_csv_has_bom_neutralised_formulas_and_only_this_workspace(world, people):
    out = rows(export(world.olivia))
    assert out[0][:3] == ["Name", "Type", "Phone"]
    body = {r[0]: r for r in out[1:]}
    assert set(body) == {"张三丰", "'=cmd|' /C calc'!A0"}
    assert body["张三丰"][2] == "+8613800138000" and body["张三丰"][10] == "VIP"


def test_phones_and_emails_are_masked_outside_personal_data_scope(world, people):
    body = {r[0]: r for r in rows(export(world.sam))[1:]}
    assert body["张三丰"][2] == "+8613800138000"  # sam owns it
    assert body["'=cmd|' /C calc'!A0"][2] == "139****9000"  # sue's: masked for sam
    body = {r[0]: r for r in rows(export(world.rita))[1:]}  # read-only: no personal data at all
    assert body["张三丰"][2:4] == ["138****8000", "z***@example.com"]


def test_filters_narrow_the_export_and_unknown_filters_are_refused(world, people):
    assert [r[0] for r in rows(export(world.olivia, city="十堰"))[1:]] == ["张三丰"]
    assert [r[0] for r in rows(export(world.olivia, tag="VIP"))[1:]] == ["张三丰"]
    with pytest.raises(ValidationFailed) as exc, workspace_context(world.ws_a):
        export_stream(actor=world.olivia, fmt="csv", filters={"password": "x"})
    assert "filter.password" in exc.value.fields
    with pytest.raises(ValidationFailed), workspace_context(world.ws_a):
        export_stream(actor=world.olivia, fmt="pdf", filters={})


def test_xlsx_export_is_a_workbook_with_text_cells(world, people):
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(export(world.olivia, "xlsx")))
    values = [[c.value for c in row] for row in wb.active.iter_rows()]
    assert values[0][0] == "Name"
    assert sorted(v[0] for v in values[1:]) == ["'=cmd|' /C calc'!A0", "张三丰"]


def test_vcard_export_reads_back(world, people):
    import vobject

    cards = list(vobject.readComponents(export(world.sam, "vcard").decode()))
    by_name = {c.fn.value: c for c in cards}
    assert by_name["张三丰"].tel.value == "+8613800138000"
    assert by_name["=cmd|' /C calc'!A0"].tel.value == "139****9000"


def test_export_is_audited_with_filter_and_count(world, people):
    export(world.olivia, city="十堰")
    with workspace_context(world.ws_a):
        e = AuditEvent.objects.get(action="customer.export")
    assert e.actor_id == world.olivia.user_id
    assert e.changes == {"format": "csv", "filters": {"city": "十堰"}, "rows": 1}


def test_sales_view_scope_limits_rows_to_what_they_may_see(world, people):
    from guanxi.workspaces.models import RolePolicy

    with workspace_context(world.ws_a):
        RolePolicy.objects.create(role="sales", module="customers", view_scope=1, edit_scope=1)
    body = [r[0] for r in rows(export(world.sam))[1:]]
    assert body == ["张三丰"]

"""Expense claims (issue 4, item 9): items with exact totals, receipts (type and size checked by content, served
only to permitted members), submit, approve/reject by the team's manager, pay; every refusal changes nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from guanxi.core.context import workspace_context
from guanxi.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from guanxi.ledger.models import AuditEvent
from guanxi.sales.models import ExpenseClaim, ExpenseItem, ExpenseReceipt
from guanxi.sales.services import expenses
from tests.api.conftest import _fresh_rate_limits, api_for, make_key  # noqa: F401
from tests.api.support import assert_error

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
ITEMS = [
    {"spent_on": "2026-11-02", "category": "travel", "amount": "1280.10", "description": "高铁 上海-北京"},
    {"spent_on": "2026-11-03", "category": "meals", "amount": "0.20", "description": "客户午餐"},
    {"spent_on": "2026-11-03", "category": "lodging", "amount": "459.70"},
]


def _snapshot():
    return (
        list(ExpenseClaim.objects.order_by("pk").values()),
        list(ExpenseItem.objects.order_by("pk").values()),
        list(ExpenseReceipt.objects.order_by("pk").values()),
    )


@pytest.fixture
def claim(world, customers):
    with workspace_context(world.ws_a):
        items = [{**ITEMS[0], "customer_id": customers["sam_c"].pk}, *ITEMS[1:]]
        return expenses.claim_create(actor=world.sam, title="北京出差", items=items)


def test_claim_flow_totals_and_audit(world, claim):
    assert claim.total == Decimal("1740.00") and claim.status == "draft"  # 1280.10 + 0.20 + 459.70, exactly
    with workspace_context(world.ws_a):
        expenses.receipt_add(actor=world.sam, claim_id=claim.pk, name="ticket.png", content=PNG)
        expenses.claim_submit(actor=world.sam, claim_id=claim.pk)
        with pytest.raises(Conflict):  # no edits after submission
            expenses.claim_update(actor=world.sam, claim_id=claim.pk, title="改")
        with pytest.raises(Conflict):
            expenses.receipt_add(actor=world.sam, claim_id=claim.pk, name="more.pdf", content=PDF)
        c = expenses.claim_decide(actor=world.mark, claim_id=claim.pk, approve=True, comment="同意")
        assert (c.status, c.decided_by_id, c.decision_comment) == ("approved", world.mark.user_id, "同意")
        with pytest.raises(Forbidden):  # paying needs workspace scope
            expenses.claim_mark_paid(actor=world.mark, claim_id=claim.pk)
        assert expenses.claim_mark_paid(actor=world.olivia, claim_id=claim.pk).status == "paid"
        actions = list(
            AuditEvent.objects.filter(object_id=str(claim.pk), object_type="sales.expenseclaim")
            .order_by("id")
            .values_list("action", flat=True)
        )
    assert actions == [
        "expense_claim.create",
        "expense_claim.receipt_add",
        "expense_claim.submit",
        "expense_claim.approve",
        "expense_claim.pay",
    ]


def test_bad_items_are_refused_naming_the_item(world, customers):
    with workspace_context(world.ws_a):
        for bad, field in (
            ({**ITEMS[0], "amount": "-10"}, "items.0.amount"),
            ({**ITEMS[0], "amount": "0"}, "items.0.amount"),
            ({**ITEMS[0], "amount": "1.005"}, "items.0.amount"),
            ({**ITEMS[0], "category": "yacht"}, "items.0.category"),
            ({**ITEMS[0], "spent_on": "2099-01-01"}, "items.0.spent_on"),
            ({**ITEMS[0], "customer_id": customers["oscar_c"].pk}, "items.0.customer_id"),
        ):
            with pytest.raises(ValidationFailed) as exc:
                expenses.claim_create(actor=world.sam, title="x", items=[bad])
            assert field in exc.value.fields, (bad, exc.value.fields)
        assert not ExpenseClaim.objects.exists()


def test_decisions_are_refused_to_the_wrong_people(world, claim):
    with workspace_context(world.ws_a):
        with pytest.raises(ValidationFailed):  # an empty claim cannot be submitted
            expenses.claim_submit(
                actor=world.sue, claim_id=expenses.claim_create(actor=world.sue, title="空").pk
            )
        expenses.claim_submit(actor=world.sam, claim_id=claim.pk)
        with pytest.raises(Forbidden):  # the claimant
            expenses.claim_decide(actor=world.sam, claim_id=claim.pk, approve=True)
        with pytest.raises(Forbidden):  # a teammate without team edit scope
            expenses.claim_decide(actor=world.sue, claim_id=claim.pk, approve=True)
        with pytest.raises(ValidationFailed):  # rejecting needs a reason
            expenses.claim_decide(actor=world.mark, claim_id=claim.pk, approve=False)
        # olivia's own claim: mark (team scope, East) may not approve outside his team, nor may olivia herself
        own = expenses.claim_create(actor=world.olivia, title="会议", items=ITEMS[:1])
        expenses.claim_submit(actor=world.olivia, claim_id=own.pk)
        mid = _snapshot()
        with pytest.raises(Forbidden):
            expenses.claim_decide(actor=world.mark, claim_id=own.pk, approve=True)
        with pytest.raises(Forbidden):
            expenses.claim_decide(actor=world.olivia, claim_id=own.pk, approve=True)
        assert _snapshot() == mid
        c = expenses.claim_decide(actor=world.mark, claim_id=claim.pk, approve=False, comment="缺发票")
        assert c.status == "rejected"
        with pytest.raises(Conflict):
            expenses.claim_decide(actor=world.mark, claim_id=claim.pk, approve=True)
        assert expenses.claim_reopen(actor=world.sam, claim_id=claim.pk).status == "draft"
    with workspace_context(world.ws_b), pytest.raises(NotFound):
        expenses.claim_decide(actor=world.oscar, claim_id=claim.pk, approve=True, comment="x")


def test_receipt_checks(world, claim, settings, tmp_path):
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": tmp_path}}}  # fmt: skip
    with workspace_context(world.ws_a):
        before = _snapshot()
        for name, data, why in (
            ("receipt.jpg", b"MZ\x90\x00 this is an exe", "Upload a PDF, JPEG, PNG or WebP file."),
            ("receipt.pdf", PNG, "The file's name does not match its contents."),
            ("empty.png", b"", "The file is empty."),
        ):
            with pytest.raises(ValidationFailed) as exc:
                expenses.receipt_add(actor=world.sam, claim_id=claim.pk, name=name, content=data)
            assert exc.value.fields == {"file": why}
        with override_settings(GUANXI_RECEIPT_MAX_BYTES=1024), pytest.raises(ValidationFailed) as exc:
            expenses.receipt_add(
                actor=world.sam, claim_id=claim.pk, name="big.png", content=PNG + b"\0" * 2000
            )
        assert "larger" in exc.value.fields["file"]
        with pytest.raises(Forbidden):  # mark sees the claim but it is sam's draft
            expenses.receipt_add(actor=world.mark, claim_id=claim.pk, name="r.png", content=PNG)
        assert _snapshot() == before
        assert not list(tmp_path.rglob("*.*"))  # nothing stored for any refusal
        r = expenses.receipt_add(actor=world.sam, claim_id=claim.pk, name="C:\\票据\\发票.pdf", content=PDF)
        assert (r.original_name, r.content_type, r.size) == ("发票.pdf", "application/pdf", len(PDF))
        assert default_storage.open(r.file.name).read() == PDF and r.file.name.startswith("receipts/")


def test_api_and_receipt_download_permissions(world, customers, api_for, settings, tmp_path):  # noqa: F811
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": tmp_path}}}  # fmt: skip
    sam, mark, oscar, rita = (
        api_for(world.sam),
        api_for(world.mark),
        api_for(world.oscar),
        api_for(world.rita),
    )
    r = sam.post("/expense-claims", {"title": "出差", "items": ITEMS})
    assert r.status_code == 201, r.content
    c = r.json()
    assert (c["total"], c["status"], len(c["items"])) == ("1740.00", "draft", 3)
    body = assert_error(
        sam.post("/expense-claims", {"title": "x", "items": [{**ITEMS[0], "amount": "-1"}]}),
        422,
        "validation_error",
    )
    assert body["fields"][0]["field"] == "items.0.amount"
    up = sam.client.post(
        f"/api/v1/expense-claims/{c['id']}/receipts",
        {"file": SimpleUploadedFile("ticket.png", PNG, content_type="image/png")}, **sam._headers(),
    )  # fmt: skip
    assert up.status_code == 201, up.content
    rid = up.json()["id"]
    forged = sam.client.post(
        f"/api/v1/expense-claims/{c['id']}/receipts",
        {"file": SimpleUploadedFile("x.png", b"<script>alert(1)</script>", content_type="image/png")}, **sam._headers(),
    )  # fmt: skip
    assert_error(forged, 422, "validation_error")
    dl = sam.client.get(f"/api/v1/expense-claims/{c['id']}/receipts/{rid}", **sam._headers())
    assert dl.status_code == 200 and b"".join(dl.streaming_content) == PNG
    assert dl["Content-Disposition"].startswith("attachment")
    assert (
        mark.client.get(f"/api/v1/expense-claims/{c['id']}/receipts/{rid}", **mark._headers()).status_code
        == 200
    )
    assert_error(oscar.get(f"/expense-claims/{c['id']}"), 404, "not_found")
    r = oscar.client.get(f"/api/v1/expense-claims/{c['id']}/receipts/{rid}", **oscar._headers())
    assert r.status_code == 404
    assert sam.post(f"/expense-claims/{c['id']}/submit").json()["status"] == "submitted"
    assert_error(sam.patch(f"/expense-claims/{c['id']}", {"title": "改"}), 409, "claim_not_draft")
    assert_error(sam.post(f"/expense-claims/{c['id']}/decide", {"approve": True}), 403, "forbidden")
    assert_error(rita.post(f"/expense-claims/{c['id']}/decide", {"approve": True}), 403, "forbidden")
    assert [x["id"] for x in mark.get("/expense-claims", status="submitted").json()["items"]] == [c["id"]]
    r = mark.post(f"/expense-claims/{c['id']}/decide", {"approve": True, "comment": "ok"})
    assert r.status_code == 200 and r.json()["status"] == "approved"
    # the web pages: the claimant's list, the detail, the download; the outsider gets 404
    page = world.client_for(world.sam).get(f"/sales/expenses/{c['id']}/")
    assert page.status_code == 200 and "1740.00" in page.content.decode()
    assert world.client_for(world.oscar).get(f"/sales/expenses/{c['id']}/receipts/{rid}/").status_code == 404
    assert world.client_for(world.sue).get(f"/sales/expenses/{c['id']}/receipts/{rid}/").status_code == 200


def test_web_flow(world, customers, settings, tmp_path):
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": tmp_path}}}  # fmt: skip
    sam, mark = world.client_for(world.sam), world.client_for(world.mark)
    r = sam.post("/sales/expenses/new/", {"title": "拜访", "currency": "CNY", "spent_on_0": "2026-11-01",
                                          "category_0": "meals", "amount_0": "-8", "description_0": "茶"})  # fmt: skip
    assert r.status_code == 422 and "The amount cannot be negative." in r.content.decode()
    r = sam.post("/sales/expenses/new/", {"title": "拜访", "currency": "CNY", "spent_on_0": "2026-11-01",
                                          "category_0": "meals", "amount_0": "88.80", "description_0": "茶",
                                          "spent_on_1": "2026-11-02", "category_1": "transport", "amount_1": "11.2"})  # fmt: skip
    assert r.status_code == 302
    with workspace_context(world.ws_a):
        claim = ExpenseClaim.objects.get()
    assert claim.total == Decimal("100.00")
    up = sam.post(f"/sales/expenses/{claim.pk}/receipts/", {"file": SimpleUploadedFile("a.pdf", PDF)})
    assert up.status_code == 302
    sam.post(f"/sales/expenses/{claim.pk}/action/", {"action": "submit"})
    r = mark.get("/sales/expenses/?tab=decide")
    assert claim.number in r.content.decode()
    mark.post(f"/sales/expenses/{claim.pk}/action/", {"action": "approve", "comment": ""})
    with workspace_context(world.ws_a):
        claim.refresh_from_db()
        assert claim.status == "approved"
        assert ExpenseReceipt.objects.get().content_type == "application/pdf"

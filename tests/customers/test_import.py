"""Customer import: encodings, mapping guess, validation, duplicates, idempotency, resumability, refusals."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.test import override_settings

from guanxi.core.context import workspace_context
from guanxi.core.errors import ValidationFailed
from guanxi.customers.importing.mapping import detect_layout, guess_mapping
from guanxi.customers.importing.reader import ImportRefused
from guanxi.customers.importing.rows import fast_phone, search_text
from guanxi.customers.importing.services import (
    SimulatedCrash,
    import_configure,
    import_create,
    import_preview,
    import_run,
    import_start,
)
from guanxi.customers.models import (
    Customer,
    CustomerEmail,
    CustomerPhone,
    CustomerTag,
    CustomFieldDefinition,
    ImportJob,
    ImportRejectedRow,
)
from guanxi.customers.normalize import normalize_phone, search_document
from guanxi.ledger.models import AuditEvent

HEADER = ["姓名", "手机号", "邮箱", "公司", "省份", "城市", "标签", "备注"]
ROWS = [
    ["张三丰", "13800138000", "zsf@example.com", "武当科技", "湖北", "十堰", "VIP;老客户", "首批"],
    ["李四", "+86 139 0013 9000", "", "", "北京", "北京", "", ""],
    ["", "13700137000", "", "", "", "", "", "no name"],  # rejected: name
    ["王五", "12345", "", "", "", "", "", ""],  # rejected: phone
    ["赵六", "13600136000", "not-an-email", "", "", "", "", ""],  # rejected: email
    ["张三丰", "13800138000", "", "", "", "", "", "dup of row 2"],  # duplicate by phone
]


def csv_bytes(rows, header=HEADER, encoding="utf-8-sig", delimiter=","):
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode(encoding)


def upload(member, data: bytes, name="customers.csv"):
    with workspace_context(member.workspace):
        return import_create(actor=member, file_name=name, chunks=[data])


def run(member, job, **kw):
    with workspace_context(member.workspace):
        import_start(
            actor=member, job_id=job.pk, enqueue=False, **{k: v for k, v in kw.items() if k == "on_duplicate"}
        )
    job = import_run(job.pk, **{k: v for k, v in kw.items() if k != "on_duplicate"})
    return job


def names(ws):
    with workspace_context(ws):
        return sorted(Customer.objects.values_list("name", flat=True))


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "gbk"])
def test_it_reads_chinese_csv_in_every_common_encoding(world, encoding):
    job = upload(world.olivia, csv_bytes(ROWS, encoding=encoding))
    assert job.headers[0] == "姓名"
    assert job.mapping == {"0": "name", "1": "phone", "2": "email", "3": "company_name", "4": "province",
                           "5": "city", "6": "tags", "7": "notes"}  # fmt: skip
    job = run(world.olivia, job)
    assert (job.status, job.created_count, job.skipped_count, job.rejected_count) == ("done", 2, 1, 3)
    assert names(world.ws_a) == ["张三丰", "李四"]


def test_it_fills_phones_emails_tags_and_denormalised_columns(world):
    job = run(world.olivia, upload(world.olivia, csv_bytes(ROWS)))
    with workspace_context(world.ws_a):
        c = Customer.objects.get(name="张三丰")
        assert (c.phone, c.email, c.province, c.city, c.company_name) == (
            "+8613800138000", "zsf@example.com", "湖北", "十堰", "武当科技")  # fmt: skip
        assert (c.name_pinyin, c.name_initials, c.owner_id, c.source) == (
            "zhangsanfeng",
            "zsf",
            world.olivia.user_id,
            "import",
        )
        assert c.search_text == search_document(
            name="张三丰", company_name="武当科技", emails=["zsf@example.com"]
        )
        phone = CustomerPhone.objects.get(customer=c)
        assert (phone.e164, phone.kind, phone.region, phone.is_primary) == (
            "+8613800138000",
            "mobile",
            "CN",
            True,
        )
        assert phone.carrier == normalize_phone("13800138000").carrier
        assert CustomerEmail.objects.get(customer=c).email == "zsf@example.com"
        assert sorted(CustomerTag.objects.filter(customer=c).values_list("tag__name", flat=True)) == [
            "VIP",
            "老客户",
        ]
        assert c.import_ref == f"{job.file_sha256[:16]}:2"
        assert Customer.objects.get(name="李四").phone == "+8613900139000"


def test_rejected_rows_name_row_and_field_and_download_as_csv_with_bom(world):
    rows = [*ROWS, ["=cmd|' /C calc'!A0", "13500135000", "", "", "", "", "", ""]]
    job = run(world.olivia, upload(world.olivia, csv_bytes(rows)))
    with workspace_context(world.ws_a):
        rejected = {r.row_number: (r.field, r.reason) for r in ImportRejectedRow.objects.filter(job=job)}
    assert set(rejected) == {4, 5, 6}
    assert rejected[4][0] == "name"
    assert rejected[5][0] == "phone" and "12345" in rejected[5][1]
    assert rejected[6][0] == "email" and "not-an-email" in rejected[6][1]
    data = Path(job.rejected_path).read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    lines = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert lines[0][:4] == ["Row", "Field", "Reason", "姓名"]
    assert [line[0] for line in lines[1:]] == ["4", "5", "6"]
    # the formula-like name was imported as text, but never reaches a spreadsheet unneutralised
    assert "=cmd|' /C calc'!A0" in names(world.ws_a)


def test_it_is_idempotent_for_the_same_file(world):
    data = csv_bytes(ROWS)
    run(world.olivia, upload(world.olivia, data))
    before = names(world.ws_a)
    for policy in ("skip", "update", "create"):
        job = run(world.olivia, upload(world.olivia, data), on_duplicate=policy)
        assert job.created_count == 0, policy
    assert names(world.ws_a) == before
    with workspace_context(world.ws_a):
        assert CustomerPhone.objects.count() == 2


def test_duplicate_policies_against_existing_customers(world):
    with workspace_context(world.ws_a):
        existing = Customer.objects.create(name="张三", phone="+8613800138000", owner=world.olivia.user)
        CustomerPhone.objects.create(customer=existing, e164="+8613800138000", is_primary=True)
    rows = [["张三丰", "13800138000", "new@example.com", "武当科技", "", "", "", ""]]
    job = run(world.olivia, upload(world.olivia, csv_bytes(rows)), on_duplicate="skip")
    assert (job.created_count, job.skipped_count) == (0, 1)
    job = run(world.olivia, upload(world.olivia, csv_bytes(rows, delimiter=";")), on_duplicate="update")
    assert (job.created_count, job.updated_count) == (0, 1)
    with workspace_context(world.ws_a):
        existing.refresh_from_db()
        assert (existing.name, existing.company_name, existing.email) == (
            "张三丰",
            "武当科技",
            "new@example.com",
        )
        assert existing.search_text == "张三丰 zhangsanfeng zsf 武当科技 new@example.com"
        assert CustomerPhone.objects.filter(customer=existing).count() == 1
    job = run(world.olivia, upload(world.olivia, csv_bytes(rows, delimiter="\t")), on_duplicate="create")
    assert job.created_count == 1
    assert names(world.ws_a) == ["张三丰", "张三丰"]


def test_duplicates_by_name_and_company_or_city_and_email(world):
    with workspace_context(world.ws_a):
        Customer.objects.create(name="钱七", company_name="七星公司", owner=world.olivia.user)
        Customer.objects.create(name="孙八", city="杭州", owner=world.olivia.user)
        c = Customer.objects.create(name="周九", owner=world.olivia.user)
        CustomerEmail.objects.create(customer=c, email="zhou@example.com")
    rows = [["钱七", "", "", "七星公司", "", "", "", ""], ["孙八", "", "", "", "浙江", "杭州", "", ""],
            ["Zhou", "", "ZHOU@example.com", "", "", "", "", ""], ["钱七", "", "", "别的公司", "", "", "", ""]]  # fmt: skip
    job = run(world.olivia, upload(world.olivia, csv_bytes(rows)))
    assert (job.created_count, job.skipped_count) == (1, 3)


def test_sales_member_update_skips_duplicates_they_may_not_edit(world):
    with workspace_context(world.ws_a):
        c = Customer.objects.create(name="李四", city="北京", owner=world.sue.user)
    rows = [["李四", "", "", "新公司", "", "北京", "", ""]]
    job = run(world.sam, upload(world.sam, csv_bytes(rows)), on_duplicate="update")
    assert (job.updated_count, job.skipped_count) == (0, 1)
    with workspace_context(world.ws_a):
        c.refresh_from_db()
        assert c.company_name == ""


def test_readonly_member_cannot_upload(world):
    with pytest.raises(Exception) as exc:
        upload(world.rita, csv_bytes(ROWS))
    assert getattr(exc.value, "status", None) == 403
    with workspace_context(world.ws_a):
        assert not ImportJob.objects.exists()


def test_it_refuses_undecodable_files_before_importing(world):
    data = csv_bytes(ROWS) + b"\xff\xfe\x00\x81binary"
    with pytest.raises(ImportRefused) as exc:
        upload(world.olivia, data)
    assert "encoding" in str(exc.value)
    with workspace_context(world.ws_a):
        assert not ImportJob.objects.exists() and not Customer.objects.exists()


@override_settings(GUANXI_IMPORT_MAX_BYTES=100)
def test_it_refuses_a_file_over_the_limit(world, settings):
    folder = Path(settings.DATA_DIR) / "imports" / str(world.ws_a.pk)
    before = set(folder.glob("*")) if folder.exists() else set()
    with pytest.raises(ImportRefused) as exc:
        upload(world.olivia, csv_bytes(ROWS))
    assert exc.value.fields == {"file": "file too large"}
    assert set(folder.glob("*")) == before
    with workspace_context(world.ws_a):
        assert not ImportJob.objects.exists()


def test_it_refuses_a_mapping_without_name_naming_the_column(world):
    job = upload(world.olivia, csv_bytes([["x", "13800138000"]], header=["Foo", "Mobile"]))
    assert job.mapping == {"1": "phone"}
    with pytest.raises(ValidationFailed) as exc, workspace_context(world.ws_a):
        import_start(actor=world.olivia, job_id=job.pk, enqueue=False)
    assert "name" in exc.value.fields
    with workspace_context(world.ws_a):
        job.refresh_from_db()
        assert job.status == "uploaded" and not Customer.objects.exists()
        import_configure(actor=world.olivia, job_id=job.pk, mapping={"0": "name", "1": "phone"})
    assert run(world.olivia, job).created_count == 1


def test_custom_field_rules_reject_the_row_with_the_reason(world):
    with workspace_context(world.ws_a):
        CustomFieldDefinition.objects.create(
            key="level", label="等级", field_type="choice", choices=["A", "B"]
        )
        CustomFieldDefinition.objects.create(key="budget", label="预算", field_type="number", min_value=0)
    rows = [["甲", "A", "100"], ["乙", "C", "5"], ["丙", "B", "-1"], ["丁", "", "abc"]]
    job = upload(world.olivia, csv_bytes(rows, header=["姓名", "等级", "budget"]))
    assert job.mapping == {"0": "name", "1": "custom:level", "2": "custom:budget"}
    job = run(world.olivia, job)
    assert (job.created_count, job.rejected_count) == (1, 3)
    with workspace_context(world.ws_a):
        assert Customer.objects.get().custom == {"level": "A", "budget": "100"}
        reasons = dict(ImportRejectedRow.objects.values_list("row_number", "field"))
    assert reasons == {3: "custom:level", 4: "custom:budget", 5: "custom:budget"}


def test_preview_marks_bad_cells(world):
    job = upload(world.olivia, csv_bytes(ROWS))
    with workspace_context(world.ws_a):
        pv = import_preview(actor=world.olivia, job_id=job.pk, limit=5)
    assert [r["ok"] for r in pv["rows"]] == [True, True, False, False, False]
    assert pv["rows"][3]["cells"][1]["error"].startswith("phone:")
    assert pv["rows"][2]["errors"] == [] and pv["rows"][2]["cells"][0]["error"].startswith("name:")


def test_outsider_cannot_see_or_start_another_workspaces_import(world):
    job = upload(world.olivia, csv_bytes(ROWS))
    with workspace_context(world.ws_b), pytest.raises(Exception) as exc:
        import_start(actor=world.oscar, job_id=job.pk, enqueue=False)
    assert getattr(exc.value, "status", None) == 404
    with workspace_context(world.ws_a):
        assert ImportJob.objects.get(pk=job.pk).status == "uploaded"


def _big_rows(n):
    return [[f"客户{i}", f"139{i:08d}", f"c{i}@example.com", "", "", "", "", ""] for i in range(n)]


def test_a_crashed_job_resumes_with_no_row_lost_or_doubled(world):
    job = upload(world.olivia, csv_bytes(_big_rows(250)))
    with workspace_context(world.ws_a):
        import_start(actor=world.olivia, job_id=job.pk, enqueue=False)
    with pytest.raises(SimulatedCrash):
        import_run(job.pk, chunk_size=40, crash_after_chunks=3)
    with workspace_context(world.ws_a):
        job.refresh_from_db()
        assert (job.status, job.next_row, job.created_count) == ("running", 120, 120)
        assert Customer.objects.count() == 120 and CustomerPhone.objects.count() == 120
    job = import_run(job.pk, chunk_size=40)
    with workspace_context(world.ws_a):
        assert (job.status, job.created_count, job.next_row) == ("done", 250, 250)
        assert Customer.objects.count() == 250
        assert CustomerEmail.objects.count() == 250
        assert AuditEvent.objects.filter(action="customer.import").count() == 1
        event = AuditEvent.objects.get(action="customer.import")
    assert event.changes["created"] == 250 and event.actor_id == world.olivia.user_id


def test_within_file_duplicates_across_chunks_follow_the_policy(world):
    rows = [["甲", "13800000001", "", "", "", "", "", ""]] * 3
    job = upload(world.olivia, csv_bytes(rows))
    with workspace_context(world.ws_a):
        import_start(actor=world.olivia, job_id=job.pk, enqueue=False, on_duplicate="update")
    job = import_run(job.pk, chunk_size=2)
    assert (job.created_count, job.updated_count) == (1, 2)


def test_it_guesses_google_and_outlook_layouts():
    google = ["Name", "Given Name", "Family Name", "Group Membership", "E-mail 1 - Type", "E-mail 1 - Value",
              "Phone 1 - Type", "Phone 1 - Value", "Phone 2 - Value", "Organization 1 - Name"]  # fmt: skip
    assert detect_layout(google) == "google"
    assert guess_mapping(google) == {"0": "name", "1": "given_name", "2": "family_name", "3": "tags",
                                     "5": "email", "7": "phone", "8": "phone", "9": "company_name"}  # fmt: skip
    outlook = ["Title", "First Name", "Last Name", "Company", "Job Title", "E-mail Address", "Mobile Phone",
               "Business Phone", "Business City", "Categories", "Notes"]  # fmt: skip
    assert detect_layout(outlook) == "outlook"
    assert guess_mapping(outlook) == {"1": "given_name", "2": "family_name", "3": "company_name", "4": "title",
                                      "5": "email", "6": "phone", "7": "phone", "8": "city", "9": "tags",
                                      "10": "notes"}  # fmt: skip


def test_outlook_csv_composes_names_from_first_and_last(world):
    header = ["First Name", "Last Name", "E-mail Address", "Mobile Phone", "Business Phone"]
    rows = [
        ["Ada", "Lovelace", "ada@example.com", "+1 650-253-0000", ""],
        ["三丰", "张", "", "13800138000", "010-12345678"],
    ]
    job = run(world.olivia, upload(world.olivia, csv_bytes(rows, header=header)))
    assert job.created_count == 2
    assert names(world.ws_a) == ["Ada Lovelace", "张三丰"]
    with workspace_context(world.ws_a):
        assert sorted(CustomerPhone.objects.values_list("e164", flat=True)) == [
            "+16502530000", "+861012345678", "+8613800138000"]  # fmt: skip


def test_it_imports_xlsx_with_numeric_phone_cells(world):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Name", "Mobile", "Email", "Company"])
    ws.append(["Li Lei", 13800138000, "lilei@example.com", "Han Co"])
    ws.append(["Han Meimei", 13900139000.0, None, None])
    buf = io.BytesIO()
    wb.save(buf)
    job = run(world.olivia, upload(world.olivia, buf.getvalue(), name="people.xlsx"))
    assert (job.file_format, job.created_count, job.rejected_count) == ("xlsx", 2, 0)
    with workspace_context(world.ws_a):
        assert Customer.objects.get(name="Han Meimei").phone == "+8613900139000"


def test_it_imports_vcards(world):
    vcf = (
        "BEGIN:VCARD\r\nVERSION:3.0\r\nN:张;三丰;;;\r\nFN:张三丰\r\nORG:武当科技\r\nTEL;TYPE=CELL:13800138000\r\n"
        "TEL;TYPE=WORK:+86 10 1234 5678\r\nEMAIL:zsf@example.com\r\nCATEGORIES:VIP,武术\r\nEND:VCARD\r\n"
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Bad Phone\r\nTEL:123\r\nEND:VCARD\r\n"
    ).encode()
    job = upload(world.olivia, vcf, name="contacts.vcf")
    assert job.file_format == "vcard" and job.total_rows == 2
    job = run(world.olivia, job)
    assert (job.created_count, job.rejected_count) == (1, 1)
    with workspace_context(world.ws_a):
        c = Customer.objects.get()
        assert (c.name, c.company_name, c.email) == ("张三丰", "武当科技", "zsf@example.com")
        assert CustomerPhone.objects.filter(customer=c).count() == 2
        assert CustomerTag.objects.filter(customer=c).count() == 2


def test_fast_phone_path_agrees_with_normalize_phone():
    import random

    rnd = random.Random(7)
    for _ in range(3000):
        raw = f"1{rnd.randrange(30, 100)}{rnd.randrange(10**8):08d}"
        try:
            expected = normalize_phone(raw)
        except ValueError:
            expected = None
        try:
            got = fast_phone(raw)
        except ValueError:
            got = None
        assert got == expected, raw
    assert search_text("张三", "公司", ["a@b.cn"]) == search_document(
        name="张三", company_name="公司", emails=["a@b.cn"]
    )


def test_the_search_box_finds_imported_and_updated_customers(world):
    """The rows an import writes set-based (one statement per chunk) reach the search index: the FTS5 table through
    its triggers on SQLite, the trigram and bigram indexes on PostgreSQL; an update by import re-indexes."""
    from guanxi.customers.search import customer_search

    def found(q):
        with workspace_context(world.ws_a):
            return sorted(c.name for c, _score in customer_search(actor=world.olivia, q=q))

    run(world.olivia, upload(world.olivia, csv_bytes(ROWS)))
    assert found("武当科") == ["张三丰"]  # 3+ characters: the trigram index (FTS5 on SQLite)
    assert found("武当") == ["张三丰"]  # two Chinese characters
    assert found("0013900") == ["李四"]  # a phone fragment
    rows = [["李四", "13900139000", "lisi.new@example.com", "峨眉贸易", "", "", "", ""]]
    job = run(world.olivia, upload(world.olivia, csv_bytes(rows)), on_duplicate="update")
    assert (job.created_count, job.updated_count) == (0, 1)
    assert found("峨眉贸") == ["李四"]
    assert found("lisi.new") == ["李四"]
    assert found("武当科") == ["张三丰"]


def _search_indexes() -> set[str]:
    """The search indexes present: PostgreSQL's GIN indexes, or SQLite's FTS5 triggers."""
    from django.db import connection

    from guanxi.core import rls
    from guanxi.customers.search import PG_SEARCH_INDEXES

    with rls.bypass(), connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("SELECT relname FROM pg_class WHERE relname = ANY(%s)", [list(PG_SEARCH_INDEXES)])
        else:
            cur.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'customers_customer_fts%%'"
            )
        return {r[0] for r in cur.fetchall()}


def test_a_large_import_builds_the_search_indexes_once_at_the_end(world, monkeypatch):
    """An import that at least doubles the customers table drops the search indexes while it writes and builds
    them at the end; search then finds its rows by every kind of query."""
    from guanxi.customers import search

    monkeypatch.setattr(search, "DEFER_MIN_ROWS", 2)
    all_indexes = _search_indexes()
    assert len(all_indexes) == 3
    during: list[set[str]] = []
    job = run(
        world.olivia,
        upload(world.olivia, csv_bytes(ROWS)),
        on_chunk=lambda j: during.append(_search_indexes()),
    )
    assert job.status == "done" and job.created_count == 2
    assert during and all(seen == set() for seen in during)  # dropped while the chunks were written
    assert _search_indexes() == all_indexes  # and back
    with workspace_context(world.ws_a):

        def found(q):
            return sorted(c.name for c, _score in search.customer_search(actor=world.olivia, q=q))

        assert found("武当科") == ["张三丰"]
        assert found("武当") == ["张三丰"]
        assert found("0013900") == ["李四"]
        assert found("zhangsanfeng") == ["张三丰"]


def test_a_small_import_into_a_larger_table_keeps_the_search_indexes(world, monkeypatch):
    from guanxi.customers import search

    monkeypatch.setattr(search, "DEFER_MIN_ROWS", 2)
    with workspace_context(world.ws_b):  # other workspaces' rows count: the indexes serve them too
        for i in range(10):  # more than the file's 6 rows
            Customer.objects.create(name=f"客户{i}")
    during: list[set[str]] = []
    run(
        world.olivia,
        upload(world.olivia, csv_bytes(ROWS)),
        on_chunk=lambda j: during.append(_search_indexes()),
    )
    assert during and all(len(seen) == 3 for seen in during)


def test_a_crashed_large_import_leaves_the_search_indexes_in_place(world, monkeypatch):
    from guanxi.customers import search

    monkeypatch.setattr(search, "DEFER_MIN_ROWS", 2)
    job = upload(world.olivia, csv_bytes(ROWS))
    with workspace_context(world.ws_a):
        import_start(actor=world.olivia, job_id=job.pk, enqueue=False)
    with pytest.raises(SimulatedCrash):
        import_run(job.pk, chunk_size=1, crash_after_chunks=1)
    assert len(_search_indexes()) == 3
    assert search.search_indexes_ensure() == []  # nothing left to build


def test_a_merged_away_customer_is_not_a_duplicate(world):
    """A row matching only a customer merged into another (its phone left behind) creates a customer: merged-away
    records are hidden everywhere. A later row with that phone then matches the live customer, even though the
    merged-away one is older."""
    with workspace_context(world.ws_a):
        survivor = Customer.objects.create(name="张三", owner=world.olivia.user)
        gone = Customer.objects.create(
            name="张三丰", phone="+8613800138000", owner=world.olivia.user, merged_into=survivor
        )
        CustomerPhone.objects.create(customer=gone, e164="+8613800138000", is_primary=True)
    rows = [["张三丰", "13800138000", "", "", "", "", "", ""]]
    job = run(world.olivia, upload(world.olivia, csv_bytes(rows)), on_duplicate="skip")
    assert (job.created_count, job.updated_count, job.skipped_count) == (1, 0, 0)
    rows = [["张三丰", "13800138000", "zsf@example.com", "", "", "", "", ""]]
    job = run(world.olivia, upload(world.olivia, csv_bytes(rows)), on_duplicate="update")
    assert (job.created_count, job.updated_count, job.skipped_count) == (0, 1, 0)
    with workspace_context(world.ws_a):
        live = Customer.objects.get(name="张三丰", merged_into__isnull=True)
        assert live.email == "zsf@example.com"
        gone.refresh_from_db()
        assert (gone.merged_into_id, gone.email) == (survivor.pk, "")

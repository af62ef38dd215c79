"""The importer's shortcuts give exactly what the shared normalisers give (they exist only for speed)."""

from __future__ import annotations

import random

import pytest

from guanxi.customers.importing.rows import MOBILE_PREFIX_DIGITS, fast_name_pinyin, fast_phone, search_text
from guanxi.customers.normalize import InvalidValue, name_pinyin, normalize_phone, search_document


def _reference_phone(raw: str):  # type: ignore[no-untyped-def]
    try:
        return normalize_phone.__wrapped__(raw)  # past its cache: a real parse
    except InvalidValue:
        return None


def _fast_phone(raw: str):  # type: ignore[no-untyped-def]
    try:
        return fast_phone(raw)
    except InvalidValue:
        return None


def test_fast_phone_matches_phonenumbers_for_every_mobile_prefix():
    """Every prefix the shortcut shares (1xxxx), with random remaining digits, parses the same both ways: this
    fails if a phonenumbers upgrade makes validity, kind or carrier depend on more digits."""
    rnd = random.Random(7)
    rest = 11 - MOBILE_PREFIX_DIGITS
    mismatched = []
    for prefix in range(10 ** (MOBILE_PREFIX_DIGITS - 1), 2 * 10 ** (MOBILE_PREFIX_DIGITS - 1)):
        number = f"{prefix}{rnd.randrange(10**rest):0{rest}d}"
        if _reference_phone(number) != _fast_phone(number):
            mismatched.append(number)
    assert mismatched == []


@pytest.mark.parametrize(
    "raw", ["+86 138 0013 8000", "0086-139-0013-9000", "8613700137000", "17400123456", "17406123456",
            "16101234567", "010-62345678", "+1 650 253 0000", "1234"],
)  # fmt: skip
def test_fast_phone_matches_normalize_phone_for_written_forms(raw):
    assert _fast_phone(raw) == _reference_phone(raw)


NAMES = ["张三丰", "单雄信", "重庆火锅", "长孙无忌", "曾国藩", "乐嘉", "解放军", "银行行长", "John Smith",
         "李 Lee 小龙", "Éva 张", "王-五", "O'Brien", "", "  ", "欧阳娜娜", "区志强", "查理"]  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_fast_name_pinyin_matches_name_pinyin(name):
    assert fast_name_pinyin(name) == name_pinyin.__wrapped__(name)
    assert fast_name_pinyin(name) == name_pinyin.__wrapped__(name)  # and again, from its cache


def test_search_text_matches_search_document():
    for name in NAMES:
        for company in ("武当 Tech", ""):
            expected = search_document(name=name, company_name=company, emails=["A@Example.com"])
            assert search_text(name, company, ["A@Example.com"]) == expected
            assert search_text(name, company, ["A@Example.com"], fast_name_pinyin(name)) == expected


def test_it_creates_nothing_again_when_the_first_job_of_the_file_is_gone(world):
    """A job that sees no earlier job of its file skips the per-chunk look-up of already imported rows; the
    unique import reference still refuses the rows and the chunk is redone with the look-up."""
    from guanxi.core.context import workspace_context
    from guanxi.customers.models import Customer, ImportJob
    from tests.customers.test_import import csv_bytes, names, run, upload

    # Names only: nothing for the duplicate rules to match, so only the import reference can stop a second copy.
    data = csv_bytes([["张三", "", "", "", "", "", "", ""], ["李四", "", "", "", "", "", "", ""]])
    first = run(world.olivia, upload(world.olivia, data), on_duplicate="create")
    assert first.created_count == 2
    ImportJob.all_workspaces.filter(pk=first.pk).delete()  # its customers keep their import references
    job = run(world.olivia, upload(world.olivia, data), on_duplicate="create")
    assert (job.status, job.created_count, job.skipped_count) == ("done", 0, 2)
    assert names(world.ws_a) == ["张三", "李四"]
    with workspace_context(world.ws_a):
        assert Customer.objects.count() == 2


def test_fast_name_pinyin_matches_name_pinyin_for_many_generated_names():
    """The per-character path (no neighbouring pair starts a pypinyin phrase) and the segmenter path agree with
    ``name_pinyin`` on names such as an import brings: common surnames, compound surnames, two-character given
    names, phrases inside names, mixed scripts."""
    rnd = random.Random(3)
    surnames = (
        "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁"
    )
    surnames = [*surnames, "欧阳", "司马", "上官", "诸葛", "长孙", "单", "解", "查", "区", "乐", "重"]
    given = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国玉志红梅文斌晓海燕春丹鹏飞子涵欣怡浩然宇轩行长银"
    names = [rnd.choice(surnames) + "".join(rnd.choices(given, k=rnd.randint(1, 3))) for _ in range(3000)]
    names += ["重庆", "银行行长", "张 三", "〇〇七", "ＡＢＣ张", "Mary 李", "长江"]
    for name in names:
        assert fast_name_pinyin(name) == name_pinyin.__wrapped__(name), name


@pytest.mark.parametrize(
    "raw",
    ["a@example.com", " A.B+c_d-e@Mail.Example.COM ", "x@localhost", "x@sub-domain.example.co", "a..b@example.com",
     ".a@example.com", "a.@example.com", "a@-example.com", "a@example-.com", "a@example.c", "a@example.123",
     "a@ex_ample.com", "a@[127.0.0.1]", '"quoted x"@example.com', "用户@例子.中国", "ｕｓｅｒ@example.com",
     "a@xn--fsqu00a.xn--fiqs8s", "a@example.com.", "not-an-email@", "@example.com", "a@b@example.com", "",
     "x" * 250 + "@example.com", "a!#$%&'*/=?^`{|}~@example.com"],
)  # fmt: skip
def test_plain_email_shortcut_agrees_with_djangos_validator(raw):
    import unicodedata

    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    from guanxi.customers.normalize import normalize_email

    text = unicodedata.normalize("NFKC", raw.strip()).lower()
    try:
        validate_email(text)
        expected = text
    except ValidationError:
        expected = None
    try:
        got = normalize_email(raw)
    except InvalidValue:
        got = None
    assert got == expected


def _mixed_rows(n):
    """Valid rows, bad ones and duplicates in and across chunks, in the layout of tests.customers.test_import."""
    from tests.customers.test_import import ROWS

    rows = []
    for i in range(n):
        rows.append([f"客户{i}", f"139{i:08d}", f"c{i}@example.com" if i % 3 else "", "武当科技" if i % 5 == 0
                     else "", "湖北", "武汉", "VIP;老客户" if i % 4 == 0 else "", ""])  # fmt: skip
        if i % 17 == 0:
            rows.append(
                [
                    f"客户{i}",
                    f"+86 139 {i:08d}"[:8] + f" {i:08d}"[1:5] + f" {i:08d}"[5:],
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                ]
            )
        if i % 23 == 0:
            rows.append([f"客户{i}", "12345", "bad@", "", "", "", "", ""])
    return rows + ROWS


def _outcome(ws, job):
    from guanxi.core.context import workspace_context
    from guanxi.customers.models import Customer, CustomerEmail, CustomerPhone, CustomerTag, ImportRejectedRow

    with workspace_context(ws):
        return {
            "counts": (
                job.status,
                job.created_count,
                job.updated_count,
                job.skipped_count,
                job.rejected_count,
            ),
            "customers": sorted(
                Customer.objects.values_list(
                    "name", "phone", "email", "company_name", "name_pinyin", "name_initials", "search_text"
                )
            ),  # fmt: skip
            "phones": sorted(CustomerPhone.objects.values_list("customer__name", "e164", "raw", "carrier")),
            "emails": sorted(CustomerEmail.objects.values_list("customer__name", "email")),
            "tags": sorted(CustomerTag.objects.values_list("customer__name", "tag__name")),
            "rejected": sorted(ImportRejectedRow.objects.values_list("row_number", "field", "reason")),
        }


@pytest.mark.parametrize("policy", ["skip", "update"])
def test_worker_processes_import_exactly_what_the_importing_process_does(world, policy):
    """Rows prepared in worker processes (a large file's path) give the same customers, phones, emails, tags,
    rejected rows and counts as rows prepared in the importing process."""
    from tests.customers.test_import import csv_bytes, run, upload

    data = csv_bytes(_mixed_rows(300))
    alone = run(world.olivia, upload(world.olivia, data), on_duplicate=policy, chunk_size=40, workers=0)
    pooled = run(world.oscar, upload(world.oscar, data), on_duplicate=policy, chunk_size=40, workers=2)
    expected = _outcome(world.ws_a, alone)
    assert expected["counts"][0] == "done" and expected["counts"][1] > 250 and expected["rejected"]
    assert _outcome(world.ws_b, pooled) == expected


def test_a_crashed_job_with_worker_processes_resumes_with_no_row_lost_or_doubled(world):
    from guanxi.core.context import workspace_context
    from guanxi.customers.importing.services import SimulatedCrash, import_run, import_start
    from guanxi.customers.models import Customer
    from tests.customers.test_import import csv_bytes, run, upload

    data = csv_bytes(_mixed_rows(200))
    job = upload(world.olivia, data)
    with workspace_context(world.ws_a):
        import_start(actor=world.olivia, job_id=job.pk, enqueue=False)
    with pytest.raises(SimulatedCrash):  # the workers had prepared chunks beyond the third: they are dropped
        import_run(job.pk, chunk_size=30, crash_after_chunks=3, workers=1)
    with workspace_context(world.ws_a):
        job.refresh_from_db()
        assert (job.status, job.next_row) == ("running", 90)
        assert 0 < job.created_count == Customer.objects.count()
    job = import_run(job.pk, chunk_size=30, workers=1)
    uninterrupted = run(world.oscar, upload(world.oscar, data), chunk_size=30, workers=0)
    assert job.created_count + job.skipped_count + job.rejected_count == job.total_rows
    assert _outcome(world.ws_a, job) == _outcome(world.ws_b, uninterrupted)


def test_worker_count_is_configured_or_leaves_two_cores(settings, monkeypatch):
    from guanxi.customers.importing import services

    settings.GUANXI_IMPORT_WORKERS = 3
    assert services.import_workers() == 3
    settings.GUANXI_IMPORT_WORKERS = 0
    assert services.import_workers() == 0
    del settings.GUANXI_IMPORT_WORKERS  # the default: a core each for the importer and the database first
    monkeypatch.setattr(services.os, "cpu_count", lambda: 2)
    assert services.import_workers() == 0
    monkeypatch.setattr(services.os, "cpu_count", lambda: 16)
    assert services.import_workers() == 4


def test_a_broken_worker_pool_falls_back_to_preparing_in_process(world, monkeypatch):
    """A worker process that dies (killed, out of memory) breaks the pool: the job goes on without it, with the
    same result as an import that never had workers."""
    from concurrent.futures.process import BrokenProcessPool

    from guanxi.customers.importing import services
    from tests.customers.test_import import csv_bytes, run, upload

    def broken(items, future):  # type: ignore[no-untyped-def]
        raise BrokenProcessPool("a worker died")

    data = csv_bytes(_mixed_rows(120))
    monkeypatch.setattr(services, "_rejoin", broken)
    job = run(world.olivia, upload(world.olivia, data), chunk_size=30, workers=1)
    monkeypatch.undo()
    uninterrupted = run(world.oscar, upload(world.oscar, data), chunk_size=30, workers=0)
    assert _outcome(world.ws_a, job) == _outcome(world.ws_b, uninterrupted)

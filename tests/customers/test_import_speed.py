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
    phones = [normalize_phone("13800138000"), normalize_phone("010-62345678")]
    for name in NAMES:
        expected = search_document(
            name=name, company_name="武当 Tech", phones=[p.e164 for p in phones], emails=["A@Example.com"]
        )
        assert search_text(name, "武当 Tech", phones, ["A@Example.com"]) == expected


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

"""The duplicate scan (查重): what it finds, what it does not, and how re-scans treat decisions."""

from __future__ import annotations

import pytest

from guanxi.core.context import workspace_context
from guanxi.core.errors import Forbidden
from guanxi.customers.dedupe import (
    duplicate_candidates,
    duplicate_dismiss,
    duplicate_queue,
    duplicate_scan_run,
    duplicate_scan_start,
    score_pair,
    simplified,
)
from guanxi.customers.models import Customer, DuplicateCandidate, DuplicateScan
from guanxi.customers.models.dedupe import DuplicateScanStatus, DuplicateStatus
from guanxi.ledger.models import AuditEvent

from .test_dedupe_support import make_customer


def _pairs(ws) -> dict[frozenset, DuplicateCandidate]:
    with workspace_context(ws):
        return {
            frozenset((c.customer_a.name, c.customer_b.name)): c
            for c in DuplicateCandidate.objects.select_related("customer_a", "customer_b")
        }


def _scan(world, ws=None, actor=None, django_capture_on_commit_callbacks=None) -> DuplicateScan:
    """Start a scan as the owner and run its job (Huey runs jobs immediately in tests)."""
    ws = ws or world.ws_a
    with workspace_context(ws):
        scan = DuplicateScan.objects.create()
        return duplicate_scan_run(scan_id=scan.pk)


@pytest.fixture
def crowd(world):
    """Duplicates of every kind, and look-alikes that are not duplicates."""
    o = world.olivia.user
    with workspace_context(world.ws_a):
        people = {
            # same phone, written differently, different spelling of the name
            "phone_1": make_customer("刘洋", phones=["138 0013 8001"], city="上海", owner=o),
            "phone_2": make_customer("Liu Yang", phones=["+86 13800138001"], owner=o),
            # same email, different case
            "email_1": make_customer("Grace Wong", emails=["Grace@Example.com"], owner=o),
            "email_2": make_customer("黄嘉欣", emails=["grace@example.com"], owner=o),
            # homophones in the same city
            "pinyin_1": make_customer("张伟", city="北京", owner=o),
            "pinyin_2": make_customer("章伟", city="北京", owner=o),
            # traditional and simplified forms of one name, nothing else in common
            "trad_1": make_customer("陳大文", city="香港", owner=o),
            "trad_2": make_customer("陈大文", city="深圳", owner=o),
            # a typo in an English name, same city
            "fuzzy_1": make_customer("Jonathan Miller", city="Shanghai", owner=o),
            "fuzzy_2": make_customer("Jonathon Miller", city="Shanghai", owner=o),
            # near-homophones in one city (front/back nasal), and two different given names that only sound alike
            "near_1": make_customer("王小明", city="杭州", owner=o),
            "near_2": make_customer("王小敏", city="杭州", owner=o),
            "other_6": make_customer("张晓明", city="杭州", owner=o),
            "other_7": make_customer("张晓玲", city="杭州", owner=o),
            # same company written two ways, same person's name
            "co_1": make_customer("王芳", company_name="阿里巴巴（中国）有限公司", owner=o),
            "co_2": make_customer("王芳", company_name="阿里巴巴中国", owner=o),
            # not duplicates: different names in one city, one name far apart with nothing else shared
            "other_1": make_customer("李娜", city="北京", owner=o),
            "other_2": make_customer("赵敏", city="北京", owner=o),
            "other_3": make_customer("孙丽", city="广州", owner=o),
            "other_4": make_customer("孙丽", city="成都", owner=o),
            "other_5": make_customer("周杰", phones=["13900139005"], owner=o),
        }
    with workspace_context(world.ws_b):
        # same phone as phone_1, but in another workspace: never paired
        people["b_phone"] = make_customer("刘洋", phones=["13800138001"], owner=world.oscar.user)
    return people


def test_it_finds_phone_email_pinyin_traditional_fuzzy_and_company_pairs(world, crowd):
    scan = _scan(world)
    assert scan.status == DuplicateScanStatus.DONE and scan.progress == 100
    pairs = _pairs(world.ws_a)
    expect = {
        ("刘洋", "Liu Yang"): "phone",
        ("Grace Wong", "黄嘉欣"): "email",
        ("张伟", "章伟"): "pinyin",
        ("陳大文", "陈大文"): "traditional",
        ("Jonathan Miller", "Jonathon Miller"): "fuzzy_name",
        ("王小明", "王小敏"): "fuzzy_name",
        ("王芳", "王芳"): "company",
    }
    for names, reason in expect.items():
        pair = pairs.get(frozenset(names))
        assert pair is not None, f"{names} not found; found {sorted(map(sorted, pairs))}"
        assert reason in pair.reasons, (names, pair.reasons)
        assert pair.customer_a_id < pair.customer_b_id
        assert pair.status == DuplicateStatus.OPEN and pair.scan_id == scan.pk
    assert pairs[frozenset(("刘洋", "Liu Yang"))].score >= 0.7
    assert (
        scan.candidates_found == len(pairs) == len(expect)
    )  # and nothing else: the look-alikes are not paired


def test_it_does_not_pair_unrelated_customers_or_other_workspaces(world, crowd):
    _scan(world)
    names = {n for pair in _pairs(world.ws_a) for n in pair}
    assert not names & {"李娜", "赵敏", "孙丽", "周杰", "张晓明", "张晓玲"}
    _scan(world, ws=world.ws_b)
    assert _pairs(world.ws_b) == {}  # B's 刘洋 has A's phone, but A is not B's business


def test_a_rescan_replaces_open_pairs_and_keeps_dismissals(world, crowd):
    _scan(world)
    pairs = _pairs(world.ws_a)
    dismissed = pairs[frozenset(("张伟", "章伟"))]
    with workspace_context(world.ws_a):
        duplicate_dismiss(actor=world.olivia, candidate_id=dismissed.pk)
        # a new duplicate appears, an old one goes away
        make_customer("周杰伦", phones=["13900139005"], owner=world.olivia.user)
        Customer.objects.filter(pk=crowd["fuzzy_2"].pk).update(name="Peter Pan", name_pinyin="peterpan")
    second = _scan(world)
    after = _pairs(world.ws_a)
    kept = after[frozenset(("张伟", "章伟"))]
    assert kept.pk == dismissed.pk and kept.status == DuplicateStatus.DISMISSED
    assert frozenset(("周杰", "周杰伦")) in after
    assert after[frozenset(("周杰", "周杰伦"))].scan_id == second.pk
    assert frozenset(("Jonathan Miller", "Jonathon Miller")) not in after
    with workspace_context(world.ws_a):
        queue = list(duplicate_queue(actor=world.olivia))
    assert dismissed.pk not in {c.pk for c in queue}
    assert [c.score for c in queue] == sorted((c.score for c in queue), reverse=True)


def test_the_scan_fills_in_missing_pinyin(world):
    with workspace_context(world.ws_a):
        Customer.objects.create(name="张伟", city="北京")  # written without the derived columns
        Customer.objects.create(name="章伟", city="北京")
    _scan(world)
    assert frozenset(("张伟", "章伟")) in _pairs(world.ws_a)


def test_starting_a_scan_queues_the_job_and_audits(world, crowd, django_capture_on_commit_callbacks):
    with workspace_context(world.ws_a), django_capture_on_commit_callbacks(execute=True):
        scan = duplicate_scan_start(actor=world.olivia)
    with workspace_context(world.ws_a):
        scan.refresh_from_db()
        assert scan.status == DuplicateScanStatus.DONE
        assert scan.stats["blocks"]["phone"]["blocks"] >= 1
        assert AuditEvent.objects.filter(action="customer.duplicate_scan", object_id=str(scan.pk)).exists()


def test_a_read_only_member_cannot_start_a_scan(world):
    with workspace_context(world.ws_a):
        with pytest.raises(Forbidden):
            duplicate_scan_start(actor=world.rita)
        assert not DuplicateScan.objects.exists()


def test_a_scan_already_running_is_not_started_twice(world):
    with workspace_context(world.ws_a):
        running = DuplicateScan.objects.create(status=DuplicateScanStatus.RUNNING)
        assert duplicate_scan_start(actor=world.olivia).pk == running.pk
        assert DuplicateScan.objects.count() == 1


def test_the_create_check_sees_traditional_forms_of_a_name(world):
    with workspace_context(world.ws_a):
        c = make_customer("陳大文", city="香港")
        found = duplicate_candidates(name="陈大文", city="香港")
        assert [(m.customer_id, m.reasons) for m in found] == [(c.pk, ["name+city"])]
        assert duplicate_candidates(name="陈大文", city="深圳") == []


def test_scores_rank_strong_evidence_above_weak():
    from guanxi.customers.dedupe import Person

    def p(i, name, **kw):
        base = {"pinyin": "", "city": "", "kind": "person", "company": "", "phone": "", "email": ""}
        base.update(kw)
        return Person(id=i, name=name, **base)

    phone, _ = score_pair(p(1, "刘洋", phone="+1"), p(2, "刘洋", phone="+1"))
    homophone, reasons = score_pair(p(1, "张伟", pinyin="zhangwei"), p(2, "章伟", pinyin="zhangwei"))
    assert reasons == ["pinyin"]
    assert phone > homophone
    assert simplified("陳大文") == simplified("陈大文") == "陈大文"


def test_a_common_name_in_one_city_is_weak_evidence():
    from guanxi.customers.dedupe import KEEP_SCORE, Person

    a = Person(
        id=1, name="王伟", pinyin="wangwei", city="北京", kind="person", company="", phone="", email=""
    )
    b = Person(
        id=2, name="王伟", pinyin="wangwei", city="北京", kind="person", company="", phone="", email=""
    )
    rare, _ = score_pair(a, b, name_count=2)
    common, _ = score_pair(a, b, name_count=40)
    assert rare >= KEEP_SCORE > common
    with_phone, _ = score_pair(a, b, same_phone=True, name_count=40)
    assert with_phone > rare  # a shared phone still makes even a common name a likely duplicate

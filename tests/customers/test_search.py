"""Customer search (item 5): every query kind, ranking, scope, masking, the API and the web page.

These run on whichever database the settings point at: SQLite by default, PostgreSQL when GUANXI_DATABASE_URL is
set (``GUANXI_DATABASE_URL=postgres://… python -m pytest tests/customers``); the vendor-specific index checks at the
end skip on the other one.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from guanxi.core.context import workspace_context
from guanxi.customers.models import Customer, CustomerEmail, CustomerPhone
from guanxi.customers.search import customer_search, parse_query, search_refresh
from guanxi.workspaces.apikeys import apikey_create
from guanxi.workspaces.models import RolePolicy
from guanxi.workspaces.permissions import Module, Role, Scope
from tests.api.support import Api, assert_error


def make(
    world,
    name: str,
    *,
    owner=None,
    phones: tuple[str, ...] = (),
    emails: tuple[str, ...] = (),
    company_name: str = "",
    kind: str = "person",
    days_ago: float = 0,
    ws=None,
) -> Customer:
    """A customer with its detail rows, its search columns filled the way the write paths fill them."""
    with workspace_context(ws or world.ws_a):
        c = Customer.objects.create(
            name=name,
            kind=kind,
            company_name=company_name,
            phone=phones[0] if phones else "",
            email=emails[0] if emails else "",
            owner=(owner or world.olivia).user,
        )
        for i, p in enumerate(phones):
            CustomerPhone.objects.create(customer=c, e164=p, is_primary=i == 0)
        for i, e in enumerate(emails):
            CustomerEmail.objects.create(customer=c, email=e, is_primary=i == 0)
        if days_ago:
            Customer.objects.filter(pk=c.pk).update(created_at=timezone.now() - dt.timedelta(days=days_ago))
        search_refresh(customer_ids=[c.pk])
        c.refresh_from_db()
    return c


def names(world, q: str, actor=None, **kw) -> list[str]:
    actor = actor or world.olivia
    with workspace_context(actor.workspace):
        return [c.name for c, _score in customer_search(actor=actor, q=q, **kw)]


@pytest.fixture
def people(world):
    return {
        "zsf": make(world, "张三丰", phones=("+8613800138000",), emails=("zsf@wudang.cn",), days_ago=30),
        "zs": make(world, "张三", phones=("+8613912345678",), owner=world.sam, days_ago=20),
        "lsf": make(
            world, "李三丰", phones=("+8618688886666", "+862161234567"), owner=world.sue, days_ago=10
        ),
        "wang": make(
            world,
            "王小明",
            company_name="华信商贸有限公司",
            emails=("wang.xm@huaxin.com.cn",),
            owner=world.sue,
        ),
        "co": make(world, "华信商贸有限公司", kind="company", phones=("+862087654321",), days_ago=40),
        "john": make(world, "John Smith", emails=("john.smith@example.com",), days_ago=5),
    }


def test_it_reads_the_kind_of_query():
    assert parse_query("  138 0013 8000 ").kind == "phone"
    assert parse_query("+86 138-0013-8000").e164 == "+8613800138000"
    assert parse_query("１３８００").digits == "13800"  # full-width digits from a Chinese input method
    assert parse_query("138").kind == "text"  # fewer than 4 digits is not a phone fragment
    assert parse_query("ZSF@wudang.cn").kind == "email"
    assert parse_query("zhang san").compact == "zhangsan"
    assert parse_query("   ").kind == "empty"


def test_it_finds_by_full_chinese_name_exact_first(world, people):
    newer = make(
        world, "小张三丰", days_ago=1
    )  # contains the name, and is newer: still after the exact match
    with workspace_context(world.ws_a):
        hits = customer_search(actor=world.olivia, q="张三丰")
    assert [(c.pk, score) for c, score in hits] == [(people["zsf"].pk, 100), (newer.pk, 50)]


def test_it_finds_by_two_chinese_characters_inside_a_name(world, people):
    found = names(world, "三丰")
    assert set(found) == {"张三丰", "李三丰"}
    assert found == ["李三丰", "张三丰"]  # same score: the newer first


def test_it_ranks_a_name_prefix_above_a_substring(world, people):
    # "张三" is an exact name, a prefix of 张三丰; "三丰" is inside 张三丰 and 李三丰.
    assert names(world, "张三") == ["张三", "张三丰"]


def test_it_finds_a_company_by_part_of_its_name(world, people):
    found = names(world, "商贸")
    assert set(found) == {"华信商贸有限公司", "王小明"}  # the company and its contact (company_name)
    assert names(world, "华信商贸有限公司")[0] == "华信商贸有限公司"


def test_it_finds_by_full_pinyin_initials_and_prefixes(world, people):
    assert names(world, "zhangsanfeng")[0] == "张三丰"
    assert names(world, "Zhang San Feng")[0] == "张三丰"
    assert names(world, "zsf")[0] == "张三丰"
    assert names(world, "zhangs")[:2] == ["张三", "张三丰"]
    assert set(names(world, "zs")) >= {"张三", "张三丰"}
    assert "李三丰" in names(world, "sanfeng")


def test_it_finds_by_phone_fragments_anywhere_in_the_number(world, people):
    assert names(world, "13800138000") == ["张三丰"]
    assert names(world, "+86 138-0013-8000") == ["张三丰"]
    assert names(world, "0013") == ["张三丰"]  # in the middle
    assert names(world, "8000") == ["张三丰"]  # the last four digits
    assert names(world, "8613800") == ["张三丰"]
    assert names(world, "6123 4567") == ["李三丰"]  # a second phone, a Shanghai landline
    assert names(world, "021-6123-4567") == ["李三丰"]


def test_it_finds_by_email_whole_or_part(world, people):
    assert names(world, "ZSF@wudang.cn") == ["张三丰"]
    assert names(world, "@huaxin") == ["王小明"]
    assert names(world, "john.smith") == ["John Smith"]


def test_it_finds_english_names_case_insensitively(world, people):
    assert names(world, "john smith") == ["John Smith"]
    assert names(world, "smith") == ["John Smith"]


def test_it_forgives_a_typo(world, people):
    assert names(world, "zhangsanfneg")[:1] == ["张三丰"]
    with workspace_context(world.ws_a):
        (c, score), *_ = customer_search(actor=world.olivia, q="zhangsanfneg")
    assert 0 < score <= 40


def test_it_finds_nothing_for_what_matches_nothing(world, people):
    assert names(world, "诸葛亮") == []
    assert names(world, "99999999") == []
    assert names(world, "") == []


def test_it_respects_the_limit(world, people):
    assert len(names(world, "zs", limit=1)) == 1


def test_it_ignores_merged_customers(world, people):
    with workspace_context(world.ws_a):
        Customer.objects.filter(pk=people["lsf"].pk).update(merged_into=people["zsf"])
    assert names(world, "三丰") == ["张三丰"]


def test_it_rejects_other_workspace(world, people):
    make(world, "张三丰", ws=world.ws_b, owner=world.oscar)
    with workspace_context(world.ws_b):
        hits = customer_search(actor=world.oscar, q="三丰")
    assert [c.workspace_id for c, _ in hits] == [world.ws_b.pk]
    assert names(world, "13800138000", actor=world.oscar) == []


def test_a_sales_member_with_own_scope_finds_only_their_own(world, people):
    with workspace_context(world.ws_a):
        RolePolicy.objects.create(
            role=Role.SALES, module=Module.CUSTOMERS, view_scope=Scope.OWN, edit_scope=Scope.OWN
        )
    assert names(world, "三丰", actor=world.sam) == []  # 张三丰 is olivia's, 李三丰 is sue's
    assert names(world, "zhangs", actor=world.sam) == ["张三"]
    assert names(world, "三丰", actor=world.sue) == ["李三丰"]


def test_phone_fragments_only_find_customers_whose_phone_the_member_may_see(world, people):
    # Sales see every customer but only their own customers' personal data: a fragment would reveal digits.
    assert names(world, "8866", actor=world.sam) == []
    assert names(world, "8866", actor=world.sue) == ["李三丰"]
    # The whole number is not a probe: anyone who may see the customer finds them by it.
    assert names(world, "18688886666", actor=world.sam) == ["李三丰"]
    assert names(world, "zsf@wudang.cn", actor=world.sam) == ["张三丰"]
    assert names(world, "@wudang", actor=world.sam) == []


def test_search_refresh_fills_the_search_columns(world):
    with workspace_context(world.ws_a):
        c = Customer.objects.create(name="欧阳娜娜", phone="+8613700137000", owner=world.olivia.user)
        assert c.search_text == ""
        assert search_refresh(only_missing=True) == 1
        c.refresh_from_db()
        assert (c.name_pinyin, c.name_initials) == ("ouyangnana", "oynn")
        assert c.search_text == "欧阳娜娜 ouyangnana oynn"  # no phones: they are searched in the phone table
        assert search_refresh(only_missing=True) == 0
    assert names(world, "ouyang") == ["欧阳娜娜"]


# --- the API ------------------------------------------------------------------------------------------------------


@pytest.fixture
def api_for(world):
    """``api_for(member)``: an API client holding a new key of that member."""
    from django.core.cache import cache

    cache.clear()  # rate-limit counters outlive each test's rollback

    def make(m) -> Api:
        _key, raw = apikey_create(actor=m, name="search-test", scopes=["read"])
        return Api(raw)

    yield make
    cache.clear()


def test_the_api_searches_and_masks_what_the_caller_may_not_see(world, people, api_for):
    res = api_for(world.sam).get("/customers/search", q="三丰")
    assert res.status_code == 200, res.content
    items = {i["name"]: i for i in res.json()["items"]}
    assert set(items) == {"张三丰", "李三丰"}
    assert items["李三丰"]["phone"] == "186****6666"  # sue's customer: sam sees it masked
    assert items["李三丰"]["masked"] is True
    assert items["张三丰"]["email"] == "z***@wudang.cn"
    own = api_for(world.sam).get("/customers/search", q="张三").json()["items"]
    assert own[0]["name"] == "张三" and own[0]["phone"] == "+8613912345678" and own[0]["masked"] is False
    full = (
        api_for(world.alice).get("/customers/search", q="三丰").json()["items"]
    )  # service: all personal data
    assert {i["phone"] for i in full} == {"+8613800138000", "+8618688886666"}


def test_the_api_ranks_and_scores(world, people, api_for):
    items = api_for(world.olivia).get("/customers/search", q="张三丰").json()["items"]
    assert [(i["name"], i["score"]) for i in items] == [("张三丰", 100)]
    items = api_for(world.olivia).get("/customers/search", q="三丰").json()["items"]
    assert [(i["name"], i["score"]) for i in items] == [("李三丰", 50), ("张三丰", 50)]


def test_the_api_rejects_a_bad_query(world, api_for):
    api = api_for(world.olivia)
    body = assert_error(api.get("/customers/search", q="x" * 101), 422, "validation_error")
    assert body["fields"][0]["field"] == "q"
    assert_error(api.get("/customers/search"), 422, "validation_error")
    assert_error(api.get("/customers/search", q="张三", limit=0), 422, "validation_error")


def test_the_api_needs_authentication(world, people):
    assert_error(Api().get("/customers/search", q="三丰"), 401, "unauthenticated")


def test_the_api_outsider_finds_nothing_of_workspace_a(world, people, api_for):
    res = api_for(world.oscar).get("/customers/search", q="三丰")
    assert res.status_code == 200
    assert res.json()["items"] == []


# --- the web page -------------------------------------------------------------------------------------------------


def test_the_search_page_shows_results_and_masks(world, people):
    res = world.client_for(world.sam).get("/search/", {"q": "三丰"})
    assert res.status_code == 200
    html = res.content.decode()
    assert "张三丰" in html and "李三丰" in html
    assert "186****6666" in html and "18688886666" not in html


def test_the_top_bar_box_answers_as_you_type(world, people):
    res = world.client_for(world.olivia).get("/search/", {"q": "zsf", "box": "1"}, HTTP_HX_REQUEST="true")
    assert res.status_code == 200
    html = res.content.decode()
    assert 'role="listbox"' in html and "张三丰" in html
    assert "<html" not in html  # a fragment for the dropdown
    assert "data-topsearch" in world.client_for(world.olivia).get("/dashboard/").content.decode()


def test_the_search_page_has_an_empty_state(world, people):
    c = world.client_for(world.olivia)
    assert "No customer matches" in c.get("/search/", {"q": "诸葛亮"}).content.decode()
    assert "pinyin" in c.get("/search/").content.decode()


def test_the_search_page_outsider_sees_nothing_of_a(world, people):
    html = world.client_for(world.oscar).get("/search/", {"q": "三丰"}).content.decode()
    assert "张三丰" not in html


# --- the indexes --------------------------------------------------------------------------------------------------


@pytest.mark.skipif(connection.vendor != "sqlite", reason="needs SQLite: its FTS5 index")
def test_sqlite_search_index_survives_a_table_remake(world, people):
    from guanxi.customers.search import sqlite_search_index_ensure

    with connection.cursor() as cur:  # what Django's table remake does to the triggers
        for t in ("ai", "ad", "au"):
            cur.execute(f"DROP TRIGGER customers_customer_fts_{t}")
    assert sqlite_search_index_ensure() is True
    assert sqlite_search_index_ensure() is False
    make(world, "欧阳锋", phones=("+8613600136000",))
    assert names(world, "欧阳锋") == ["欧阳锋"]
    assert names(world, "ouyangfeng") == [
        "欧阳锋"
    ]  # through the FTS table, kept in step by the trigger again
    assert names(world, "0136000") == ["欧阳锋"]  # the phone table


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL: its GIN indexes")
def test_postgresql_uses_the_bigram_and_trigram_indexes(world, people):
    from guanxi.core import rls

    # customer_search runs in RLS bypass: under RLS these non-leakproof operators could not use the indexes
    with rls.bypass(), connection.cursor() as cur:
        cur.execute("SET LOCAL enable_seqscan = off")
        cur.execute(
            "EXPLAIN SELECT id FROM customers_customer WHERE guanxi_cjk_bigrams(search_text) @> ARRAY['三丰']"
        )
        assert "customer_search_bigram_idx" in " ".join(r[0] for r in cur.fetchall())
        cur.execute("EXPLAIN SELECT id FROM customers_customer WHERE search_text LIKE '%%zhangsan%%'")
        assert "customer_search_trgm_idx" in " ".join(r[0] for r in cur.fetchall())
        cur.execute("EXPLAIN SELECT id FROM customers_customerphone WHERE e164 LIKE '%%0013%%'")
        assert "customerphone_e164_trgm_idx" in " ".join(r[0] for r in cur.fetchall())
        cur.execute("SELECT guanxi_cjk_bigrams('张三丰 zhangsanfeng zsf 华信商贸')")
        assert sorted(cur.fetchone()[0]) == sorted(["张三", "三丰", "华信", "信商", "商贸"])


def test_an_unowned_customers_phone_is_masked_in_hits_for_own_scope(world):
    from guanxi.core.context import workspace_context
    from guanxi.customers.search import customer_search, present_hit
    from guanxi.customers.services import customer_create, customer_update

    with workspace_context(world.ws_a):
        c = customer_create(actor=world.olivia, name="无主客户", phones=[{"number": "13712345678"}])
        customer_update(actor=world.olivia, customer_id=c.pk, owner_id=None)
        hits = customer_search(actor=world.sam, q="无主客户")
        assert [h.pk for h, _ in hits] == [c.pk]
        shown = present_hit(world.sam, hits[0][0], hits[0][1])
    assert (
        shown["masked"] is True and "1234" not in shown["phone"]
    )  # nobody's own: sales (OWN scope) sees it masked

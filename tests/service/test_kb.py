"""Knowledge base (知识库): versions, Chinese full-text search in both databases, suggestions, canned replies."""

from __future__ import annotations

import pytest

from guanxi.core.context import workspace_context
from guanxi.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from guanxi.ledger.models import AuditEvent
from guanxi.service import selectors_kb
from guanxi.service.models import Article, ArticleVersion, CannedReply
from guanxi.service.services import knowledge as kb

pytestmark = pytest.mark.django_db

REFUND = "退货退款流程：收到退货后三个工作日内原路退款，运费由商家承担。"
INVOICE = "发票开具说明：订单完成后可在个人中心申请增值税专用发票。"
PASSWORD = "忘记密码怎么办：在登录页点击“忘记密码”，通过手机验证码重置。"


@pytest.fixture
def articles(world):
    with workspace_context(world.ws_a):
        out = {
            "refund": kb.article_create(
                actor=world.alice, title="退货退款政策", body=REFUND, status="published"
            ),
            "invoice": kb.article_create(
                actor=world.alice, title="如何申请发票", body=INVOICE, status="published"
            ),
            "password": kb.article_create(
                actor=world.alice, title="重置登录密码", body=PASSWORD, status="published", kind="script"
            ),
            "draft": kb.article_create(actor=world.alice, title="售后草稿", body="尚未发布的退款说明"),
        }
    with workspace_context(world.ws_b):
        out["b_refund"] = kb.article_create(
            actor=world.oscar, title="Beta 退款政策", body="Beta 的退款流程", status="published"
        )
    return out


def _titles(hits):
    return [h.article.title for h in hits]


def test_tokenize_cuts_chinese_into_words_and_drops_function_words():
    tokens = kb.tokenize("我们的退货政策是什么")
    assert "退货" in tokens and "政策" in tokens
    assert "的" not in tokens and "我们" not in tokens and "什么" not in tokens
    assert kb.query_tokens("Reset PASSWORD 密码") == ["reset", "password", "密码"]


def test_search_finds_chinese_words_best_match_first(world, articles):
    with workspace_context(world.ws_a):
        hits = selectors_kb.article_search(actor=world.alice, q="退款")
        titles = _titles(hits)
        assert titles[0] == "退货退款政策"  # in the title (counted twice) and in the body
        assert set(titles) == {"退货退款政策", "售后草稿"}  # the editor sees her draft too
        assert "Beta 退款政策" not in titles  # never another workspace's
        # every word first: only the refund article holds both 退款 and 运费
        both = selectors_kb.article_search(actor=world.alice, q="运费 退款")
        assert _titles(both)[0] == "退货退款政策"
        # a word inside a longer one: 发票 is found in 增值税专用发票 and the title
        assert _titles(selectors_kb.article_search(actor=world.alice, q="发票")) == ["如何申请发票"]
        assert selectors_kb.article_search(actor=world.alice, q="不存在的词语组合") == []


def test_readers_see_published_articles_only(world, articles):
    with workspace_context(world.ws_a):
        titles = _titles(selectors_kb.article_search(actor=world.sam, q="退款"))
        assert titles == ["退货退款政策"]
        with pytest.raises(NotFound):
            selectors_kb.get_article_for(world.sam, articles["draft"].pk)
        assert selectors_kb.get_article_for(world.alice, articles["draft"].pk) == articles["draft"]


def test_one_character_query_falls_back_to_a_substring_scan(world, articles):
    with workspace_context(world.ws_a):
        assert "重置登录密码" in _titles(selectors_kb.article_search(actor=world.alice, q="码"))


def test_every_edit_keeps_the_previous_version_and_restore_makes_a_new_one(world, articles):
    with workspace_context(world.ws_a):
        a = articles["refund"]
        kb.article_update(
            actor=world.alice, article_id=a.pk, body="新版：七个工作日内退款。", note="延长时限"
        )
        a.refresh_from_db()
        assert a.version == 2 and a.body.startswith("新版")
        # the search follows the new text, not the old one
        assert "退货退款政策" not in _titles(selectors_kb.article_search(actor=world.alice, q="运费"))
        assert "退货退款政策" in _titles(selectors_kb.article_search(actor=world.alice, q="七个 工作日"))
        versions = list(selectors_kb.article_version_list(a))
        assert [v.version for v in versions] == [2, 1]
        assert versions[1].body == REFUND and versions[0].note == "延长时限"
        kb.article_restore(actor=world.alice, article_id=a.pk, version=1)
        a.refresh_from_db()
        assert a.version == 3 and a.body == REFUND
        assert ArticleVersion.objects.filter(article=a).count() == 3
        assert "退货退款政策" in _titles(selectors_kb.article_search(actor=world.alice, q="运费"))
        # an edit that changes nothing writes no version
        kb.article_update(actor=world.alice, article_id=a.pk, body=REFUND)
        a.refresh_from_db()
        assert a.version == 3
        assert AuditEvent.all_workspaces.filter(action="kb_article.update", object_id=str(a.pk)).count() == 2


def test_an_edit_on_a_stale_copy_is_refused_and_changes_nothing(world, articles):
    with workspace_context(world.ws_a):
        a = articles["invoice"]
        kb.article_update(actor=world.alice, article_id=a.pk, title="发票申请（新）", expected_version=1)
        with pytest.raises(Conflict):
            kb.article_update(actor=world.alice, article_id=a.pk, title="旧副本", expected_version=1)
        a.refresh_from_db()
        assert a.title == "发票申请（新）" and a.version == 2


def test_bad_input_names_the_field_and_writes_nothing(world):
    with workspace_context(world.ws_a):
        with pytest.raises(ValidationFailed) as exc:
            kb.article_create(actor=world.alice, title="", body="x", kind="poem")
        assert set(exc.value.fields) == {"title", "kind"}
        with pytest.raises(ValidationFailed) as exc:
            kb.article_create(actor=world.alice, title="t", body="x", category_id=999999)
        assert "category_id" in exc.value.fields
        assert Article.objects.count() == 0 and ArticleVersion.objects.count() == 0


def test_only_service_editors_write(world, articles):
    with workspace_context(world.ws_a):
        with pytest.raises(Forbidden):
            kb.article_create(actor=world.sam, title="t", body="b")
        with pytest.raises(Forbidden):
            kb.article_update(actor=world.rita, article_id=articles["refund"].pk, title="x")
        assert Article.objects.filter(title="t").count() == 0


def test_another_workspaces_article_looks_missing(world, articles):
    with workspace_context(world.ws_a):
        with pytest.raises(NotFound):
            selectors_kb.get_article_for(world.olivia, articles["b_refund"].pk)
        with pytest.raises(NotFound):
            kb.article_update(actor=world.olivia, article_id=articles["b_refund"].pk, title="x")
        with pytest.raises(NotFound):
            kb.article_restore(actor=world.olivia, article_id=articles["b_refund"].pk, version=1)


def test_suggestions_from_a_tickets_text(world, articles):
    text = "我的订单申请退款已经一周了还没有到账，退货的运费谁承担？"
    with workspace_context(world.ws_a):
        hits = selectors_kb.article_suggest(actor=world.alice, text=text, limit=3)
        assert _titles(hits)[0] == "退货退款政策"
        assert "售后草稿" not in _titles(hits)  # drafts are never suggested
        pw = selectors_kb.article_suggest(actor=world.alice, text="登录不了，密码忘了怎么重置")
        assert _titles(pw)[0] == "重置登录密码"


def test_deleting_an_article_removes_it_from_search(world, articles):
    with workspace_context(world.ws_a):
        kb.article_delete(actor=world.alice, article_id=articles["invoice"].pk)
        assert selectors_kb.article_search(actor=world.alice, q="发票") == []
        assert not ArticleVersion.objects.filter(article_id=articles["invoice"].pk).exists()


def test_canned_reply_placeholders(world):
    with workspace_context(world.ws_a):
        reply = kb.canned_reply_create(
            actor=world.alice,
            title="已收到",
            body="{customer_name}您好，工单 {ticket_no} 已由{agent_name}处理。",
        )
        text = kb.canned_reply_render(
            reply, values={"customer_name": "张三丰", "ticket_no": "T-000042", "agent_name": "Alice"}
        )
        assert text == "张三丰您好，工单 T-000042 已由Alice处理。"
        with pytest.raises(ValidationFailed) as exc:
            kb.canned_reply_create(actor=world.alice, title="坏", body="{phone} 你好")
        assert "{phone}" in exc.value.fields["body"]
        with pytest.raises(ValidationFailed) as exc:
            kb.canned_reply_create(actor=world.alice, title="已收到", body="重复")
        assert "title" in exc.value.fields
        assert CannedReply.objects.count() == 1
        # braces that are not placeholders are left alone
        other = kb.canned_reply_create(actor=world.alice, title="JSON", body='{"a": 1} {ticket_no}')
        assert kb.canned_reply_render(other, values={"ticket_no": "T-1"}) == '{"a": 1} T-1'


# --- API ---------------------------------------------------------------------------------------------------------


def test_api_write_search_version_restore(world):
    c = world.client_for(world.alice)
    r = c.post(
        "/api/v1/kb/articles",
        {"title": "退货退款政策", "body": REFUND, "status": "published"},
        content_type="application/json",
    )
    assert r.status_code == 201, r.content
    aid = r.json()["id"]
    r = c.patch(f"/api/v1/kb/articles/{aid}", {"body": "改过的退款说明", "expected_version": 1},
                content_type="application/json")  # fmt: skip
    assert r.status_code == 200 and r.json()["version"] == 2
    r = c.patch(f"/api/v1/kb/articles/{aid}", {"body": "迟到的编辑", "expected_version": 1},
                content_type="application/json")  # fmt: skip
    assert r.status_code == 409 and r.json()["code"] == "stale_version"
    r = c.get("/api/v1/kb/articles/search", {"q": "退款"})
    assert r.status_code == 200 and [h["id"] for h in r.json()] == [aid]
    r = c.get(f"/api/v1/kb/articles/{aid}/versions")
    assert [v["version"] for v in r.json()] == [2, 1]
    r = c.post(f"/api/v1/kb/articles/{aid}/versions/1/restore")
    assert r.status_code == 200 and r.json()["version"] == 3 and r.json()["body"] == REFUND
    r = c.get("/api/v1/kb/suggestions", {"text": "退货以后运费怎么算"})
    assert [h["id"] for h in r.json()] == [aid]
    r = c.post("/api/v1/kb/articles", {"title": "", "body": "x"}, content_type="application/json")
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "title"


def test_api_canned_replies_and_permissions(world):
    c = world.client_for(world.alice)
    r = c.post("/api/v1/canned-replies", {"title": "问候", "body": "{customer_name}您好"},
               content_type="application/json")  # fmt: skip
    assert r.status_code == 201
    rid = r.json()["id"]
    assert c.get("/api/v1/canned-replies").json()["items"][0]["id"] == rid
    sales = world.client_for(world.sam)
    r = sales.post("/api/v1/canned-replies", {"title": "x", "body": "y"}, content_type="application/json")
    assert r.status_code == 403
    r = sales.patch(f"/api/v1/canned-replies/{rid}", {"title": "改"}, content_type="application/json")
    assert r.status_code == 403
    oscar = world.client_for(world.oscar)
    assert oscar.get(f"/api/v1/canned-replies/{rid}").status_code == 404
    with workspace_context(world.ws_a):
        assert CannedReply.objects.get(pk=rid).title == "问候"


# --- pages -------------------------------------------------------------------------------------------------------


def test_pages_write_search_and_restore(world):
    c = world.client_for(world.alice)
    r = c.post(
        "/service/kb/new/",
        {"title": "退货退款政策", "body": REFUND, "kind": "article", "status": "published"},
    )
    assert r.status_code == 302
    with workspace_context(world.ws_a):
        a = Article.objects.get()
    r = c.get("/service/kb/", {"q": "退款"})
    assert r.status_code == 200 and "退货退款政策" in r.content.decode()
    r = c.post(f"/service/kb/{a.pk}/edit/", {"title": "退货退款政策", "body": "第二版", "kind": "article",
                                            "status": "published", "version": "1"})  # fmt: skip
    assert r.status_code == 302
    r = c.get(f"/service/kb/{a.pk}/versions/")
    assert "v2" in r.content.decode() and "v1" in r.content.decode()
    assert REFUND in c.get(f"/service/kb/{a.pk}/versions/1/").content.decode()
    assert c.post(f"/service/kb/{a.pk}/versions/1/restore/").status_code == 302
    a.refresh_from_db()
    assert a.version == 3 and a.body == REFUND
    r = c.post("/service/kb/new/", {"title": "", "body": ""})
    assert r.status_code == 200 and "field-error" in r.content.decode()
    r = c.post("/service/kb/canned/", {"title": "问候", "body": "{customer_name}您好"})
    assert r.status_code == 302
    assert "问候" in c.get("/service/kb/canned/").content.decode()


# --- on a ticket -------------------------------------------------------------------------------------------------


def test_ticket_suggestions_canned_render_and_panel(world, customers, articles):
    from guanxi.service.services.tickets import ticket_create

    with workspace_context(world.ws_a):
        t = ticket_create(
            actor=world.alice,
            customer=customers["sam_c"],
            subject="申请退款",
            description="退货后多久退款？运费谁出？",
        )
        reply = kb.canned_reply_create(
            actor=world.alice, title="受理", body="{customer_name}您好，工单 {ticket_no} 已受理。"
        )
    c = world.client_for(world.alice)
    r = c.get(f"/api/v1/tickets/{t.pk}/suggested-articles")
    assert r.status_code == 200 and r.json()[0]["title"] == "退货退款政策"
    r = c.get(f"/api/v1/canned-replies/{reply.pk}/render", {"ticket_id": t.pk})
    assert r.json() == {"text": f"张三丰您好，工单 #{t.pk} 已受理。"}
    r = c.get(f"/service/kb/tickets/{t.pk}/panel/")
    body = r.content.decode()
    assert r.status_code == 200 and "退货退款政策" in body and f"张三丰您好，工单 #{t.pk} 已受理。" in body
    oscar = world.client_for(world.oscar)
    assert oscar.get(f"/api/v1/tickets/{t.pk}/suggested-articles").status_code == 404
    assert oscar.get(f"/service/kb/tickets/{t.pk}/panel/").status_code == 404

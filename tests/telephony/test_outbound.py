"""Outbound lists (呼出): built from a customer segment, dealt to agents, worked by preview dialling (call via
click-to-call or skip, then the result and note on the entry, the call record and the timeline); pages and API."""

from __future__ import annotations

import pytest

from guanxi.core.context import workspace_context
from guanxi.core.errors import Conflict, ValidationFailed
from guanxi.customers.models import Customer, CustomerTag, Interaction, Tag
from guanxi.telephony import outbound
from guanxi.telephony.models import Call, OutboundEntry
from tests.contact_center.test_api import bearer

from .support import TOKEN, adapter, post, tel_objects

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _token(settings, tmp_path):
    settings.GUANXI_TELEPHONY_TOKEN = TOKEN
    settings.DATA_DIR = tmp_path


def _segment(world, customers) -> dict[str, str]:
    """Customers tagged 新品 (fits the new product): 张三丰 and 李四 (who agreed to calls) and one who did not."""
    with workspace_context(world.ws_a):
        tag = Tag.objects.create(name="新品")
        no_consent = Customer.objects.create(name="赵六", phone="+8613600136000", consent_phone=False)
        for c in (customers["sam_c"], customers["sue_c"], no_consent):
            if c is not no_consent:
                c.consent_phone = True
                c.save(update_fields=["consent_phone"])
            CustomerTag.objects.create(customer=c, tag=tag)
    return {"tag": tag.name}


def _build(world, customers, **kw):
    tel_objects(world, agents=("sam", "sue"))
    seg = _segment(world, customers)
    with workspace_context(world.ws_a):
        return outbound.outbound_list_create(
            actor=world.olivia, name=kw.get("name", "新品推介"), segment=seg,
            assignee_ids=kw.get("assignee_ids", [world.sam.user_id]), purpose="介绍新品",
        )  # fmt: skip


def test_built_from_the_segment_with_consent_and_dealt_round_robin(world, customers):
    tel_objects(world, agents=("sam", "sue"))
    seg = _segment(world, customers)
    with workspace_context(world.ws_a):
        olist = outbound.outbound_list_create(
            actor=world.olivia,
            name="新品推介",
            segment=seg,
            assignee_ids=[world.sam.user_id, world.sue.user_id],
        )
        entries = list(OutboundEntry.objects.filter(outbound_list=olist).order_by("position"))
        assert [e.customer.name for e in entries] == ["张三丰", "李四"]  # 赵六 gave no phone consent
        assert {e.assignee_id for e in entries} == {world.sam.user_id, world.sue.user_id}
        p = outbound.progress(world.olivia, olist)
        assert p["total"] == 2 and p["worked"] == 0 and p["by_status"]["pending"] == 2


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"name": ""}, "name"),
        ({"assignee_ids": []}, "assignee_ids"),
        ({"assignee_ids": [999999]}, "assignee_ids"),
        ({"channel": "fax"}, "channel"),
        ({"segment": {"tag": "无此标签"}}, "segment"),
        ({"segment": {"created_after": "not-a-date"}}, "segment.created_after"),
    ],
)
def test_bad_input_names_the_field_and_builds_nothing(world, customers, kw, field):
    tel_objects(world)
    seg = _segment(world, customers)
    args = {"name": "L", "segment": seg, "assignee_ids": [world.sam.user_id], **kw}
    with workspace_context(world.ws_a), pytest.raises(ValidationFailed) as exc:
        outbound.outbound_list_create(actor=world.olivia, **args)
    assert field in exc.value.fields, exc.value.fields
    assert not OutboundEntry.all_workspaces.exists()


def test_only_supervisors_build_and_a_readonly_member_or_one_without_rights_is_refused(world, customers):
    from guanxi.core.errors import Forbidden

    tel_objects(world)
    seg = _segment(world, customers)
    with workspace_context(world.ws_a), pytest.raises(Forbidden):
        outbound.outbound_list_create(
            actor=world.sam, name="L", segment=seg, assignee_ids=[world.sam.user_id]
        )
    with workspace_context(world.ws_a), pytest.raises(ValidationFailed) as exc:
        outbound.outbound_list_create(
            actor=world.olivia, name="L", segment=seg, assignee_ids=[world.rita.user_id]
        )
    assert "assignee_ids" in exc.value.fields


def test_preview_call_then_result_on_entry_call_and_timeline(world, customers):
    olist = _build(world, customers)
    with workspace_context(world.ws_a):
        first = outbound.next_entry(world.sam, olist)
        assert first.customer.name == "张三丰"
        call = outbound.entry_call(actor=world.sam, entry_id=first.pk)
        with pytest.raises(Conflict):  # the call is still on
            outbound.entry_result(actor=world.sam, entry_id=first.pk, result="interested", note="要报价")
        assert outbound.next_entry(world.sam, olist).pk == first.pk  # still the one being called
    # the adapter places it: agent, then customer, who answers and hangs up
    verbs = post(adapter(), type="poll").json()["verbs"]
    assert verbs[0]["leg_id"] == call.external_id
    leg = post(adapter(), type="answered", call_id=call.external_id).json()["verbs"][1]["leg_id"]
    post(adapter(), type="answered", call_id=leg)
    post(adapter(), type="hangup", call_id=leg, cause="normal")
    with workspace_context(world.ws_a):
        entry = outbound.entry_result(actor=world.sam, entry_id=first.pk, result="interested", note="要报价")
        assert entry.status == "done" and entry.result == "interested" and entry.call_id == call.pk
        assert Call.objects.get(pk=call.pk).notes == "要报价"
        tl = Interaction.objects.get(source_type="telephony.outbound", source_id=str(entry.pk))
        assert tl.customer_id == customers["sam_c"].pk and tl.body == "要报价" and "新品推介" in tl.subject
        second = outbound.next_entry(world.sam, olist)
        assert second.customer.name == "李四"
        outbound.entry_skip(actor=world.sam, entry_id=second.pk, note="出差")
        assert outbound.next_entry(world.sam, olist) is None
        p = outbound.progress(world.olivia, olist)
        assert p["worked"] == 2 and p["percent"] == 100 and p["by_result"] == {"interested": 1}
        with pytest.raises(Conflict):
            outbound.entry_skip(actor=world.sam, entry_id=second.pk)


def test_call_again_later_goes_to_the_end_and_others_entries_are_missing(world, customers):
    olist = _build(world, customers)
    with workspace_context(world.ws_a):
        first = outbound.next_entry(world.sam, olist)
        outbound.entry_result(actor=world.sam, entry_id=first.pk, result="call_back", note="下午再打")
        assert outbound.next_entry(world.sam, olist).customer.name == "李四"
        from guanxi.core.errors import NotFound

        with pytest.raises(NotFound):  # sue holds no entry of this list
            outbound.entry_skip(actor=world.sue, entry_id=first.pk)
        with pytest.raises(ValidationFailed) as exc:
            outbound.entry_result(actor=world.sam, entry_id=first.pk, result="maybe")
        assert "result" in exc.value.fields
        outbound.outbound_list_close(actor=world.olivia, list_id=olist.pk)
        with pytest.raises(Conflict):
            outbound.entry_call(actor=world.sam, entry_id=first.pk)


def test_pages_build_preview_and_record(world, customers):
    tel_objects(world, agents=("sam",))
    seg = _segment(world, customers)
    boss = world.client_for(world.olivia)
    r = boss.post("/telephony/outbound/", {"name": "", "segment": "", "assignee_ids": []})
    assert r.status_code == 422 and "name" in r.context["errors"]
    r = boss.post("/telephony/outbound/", {"name": "新品推介", "channel": "call",
                                           "segment": f"/customers/?tag={seg['tag']}",
                                           "assignee_ids": [world.sam.user_id]})  # fmt: skip
    assert r.status_code == 302, r.context and r.context.get("errors")
    olist_id = int(r["Location"].rstrip("/").split("/")[-1])
    sam = world.client_for(world.sam)
    page = sam.get(f"/telephony/outbound/{olist_id}/")
    assert page.status_code == 200 and page.context["next"].customer.name == "张三丰"
    entry = page.context["next"]
    r = sam.post(f"/telephony/outbound/{olist_id}/entries/{entry.pk}/call/")
    assert r.status_code == 302
    assert Call.all_workspaces.filter(kind="outbound", customer=customers["sam_c"]).exists()
    # rita (read-only) has no outbound pages; sue has nothing on this list
    assert world.client_for(world.rita).get("/telephony/outbound/").status_code == 403
    assert world.client_for(world.sue).get(f"/telephony/outbound/{olist_id}/").status_code == 404
    r = sam.post(f"/telephony/outbound/{olist_id}/entries/{entry.pk}/skip/")
    assert r.status_code == 302
    assert (
        OutboundEntry.all_workspaces.get(pk=entry.pk).status == "calling"
    )  # a call in progress is not skipped


def test_api_build_next_and_record(world, customers):
    tel_objects(world, agents=("sam",))
    seg = _segment(world, customers)
    boss, sam = bearer(world, world.olivia), bearer(world, world.sam)
    r = boss.post("/telephony/outbound-lists", {"name": "新品推介", "segment": seg,
                                                "assignee_ids": [world.sam.user_id]})  # fmt: skip
    assert r.status_code == 201, r.content
    lid = r.json()["id"]
    assert r.json()["progress"]["total"] == 2
    assert sam.post("/telephony/outbound-lists", {"name": "x", "assignee_ids": [1]}).status_code == 403
    nxt = sam.get(f"/telephony/outbound-lists/{lid}/next").json()
    assert nxt["customer_name"] == "张三丰"
    r = sam.post(
        f"/telephony/outbound-entries/{nxt['id']}/result", {"result": "not_interested", "note": "不需要"}
    )
    assert r.status_code == 200 and r.json()["status"] == "done"
    r = sam.post(f"/telephony/outbound-entries/{nxt['id']}/result", {"result": "nope"})
    assert r.status_code == 422
    page = boss.get(f"/telephony/outbound-lists/{lid}/entries", limit=1).json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    page2 = boss.get(f"/telephony/outbound-lists/{lid}/entries", limit=1, cursor=page["next_cursor"]).json()
    assert page2["items"][0]["customer_name"] == "李四"
    assert boss.get(f"/telephony/outbound-lists/{lid}").json()["progress"]["by_result"] == {
        "not_interested": 1
    }

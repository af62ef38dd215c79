"""The call-record pages: filters and keyset pages, who sees which calls, the detail with legs and notes, and
recordings played with Range requests and their checksum verified."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from django.utils import timezone

from guanxi.contact_center.models import Agent
from guanxi.core.context import workspace_context
from guanxi.telephony import prompts
from guanxi.telephony.models import Call

from .support import NUMBER, TOKEN

pytestmark = pytest.mark.django_db

AUDIO = b"RIFF" + bytes(range(256)) * 40  # 10,244 bytes


@pytest.fixture(autouse=True)
def _token(settings, tmp_path):
    settings.GUANXI_TELEPHONY_TOKEN = TOKEN
    settings.DATA_DIR = tmp_path


def _calls(world, customers):
    """Three inbound calls: one answered by sam (recorded), one abandoned, one voicemail from 李四 yesterday."""
    from guanxi.contact_center import routing

    with workspace_context(world.ws_a):
        routing.agent_configure(
            actor=world.olivia, member=world.sam, queue_ids=[], phone_uri="sip:sam@127.0.0.1"
        )
        agent = Agent.objects.get(user=world.sam.user)
        now = timezone.now()
        rec = prompts.media_dir() / "recordings" / "r1.wav"
        rec.parent.mkdir(parents=True, exist_ok=True)
        rec.write_bytes(AUDIO)
        answered = Call.objects.create(
            external_id="p1", caller="+8613800138000", called=NUMBER, customer=customers["sam_c"], agent=agent,
            started_at=now, connected_at=now, ended_at=now, state="ended", disposition="answered", talk_seconds=42,
            ivr_path=["root", "1>", "sales"], recording="recordings/r1.wav",
            recording_sha256=hashlib.sha256(AUDIO).hexdigest(), recording_bytes=len(AUDIO),
        )  # fmt: skip
        Call.objects.create(external_id="p1-agent", parent=answered, kind="agent", called="sip:sam@127.0.0.1",
                            agent=agent, started_at=now, state="ended", disposition="answered")  # fmt: skip
        abandoned = Call.objects.create(external_id="p2", caller="+8613700137000", called=NUMBER, started_at=now,
                                        state="ended", disposition="abandoned")  # fmt: skip
        old = Call.objects.create(
            external_id="p3", caller="+8613900139000", called=NUMBER, customer=customers["sue_c"],
            started_at=now - dt.timedelta(days=1), state="ended", disposition="voicemail",
        )  # fmt: skip
    return answered, abandoned, old


def test_supervisor_lists_and_filters_calls(world, customers):
    answered, abandoned, old = _calls(world, customers)
    c = world.client_for(world.olivia)
    r = c.get("/telephony/calls/")
    assert r.status_code == 200
    body = r.content.decode()
    for call in (answered, abandoned, old):
        assert f"/telephony/calls/{call.pk}/" in body
    leg = Call.all_workspaces.get(parent=answered)
    assert f"/telephony/calls/{leg.pk}/" not in body  # legs show inside their call

    def shown(**params) -> set[int]:
        r = c.get("/telephony/calls/", params)
        assert r.status_code == 200, r.content
        return {call.pk for call in r.context["calls"]}

    assert shown(disposition="abandoned") == {abandoned.pk}
    assert shown(agent=world.sam.user_id) == {answered.pk}
    assert shown(number="13900139000") == {old.pk}
    assert shown(q="张三") == {answered.pk}
    today = timezone.localdate().isoformat()
    assert shown(**{"from": today}) == {answered.pk, abandoned.pk}
    assert shown(to=(timezone.localdate() - dt.timedelta(days=1)).isoformat()) == {old.pk}
    r = c.get("/telephony/calls/", {"from": "2026-13-01", "number": "12"})
    assert r.status_code == 422
    assert set(r.context["errors"]) == {"from", "number"} and not r.context["calls"]


def test_keyset_pages(world, customers, monkeypatch):
    from guanxi.telephony import views

    answered, abandoned, old = _calls(world, customers)
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    c = world.client_for(world.olivia)
    first = c.get("/telephony/calls/")
    ids = [x.pk for x in first.context["calls"]]
    assert ids == [old.pk, abandoned.pk]
    nxt = first.context["next_before"]
    assert nxt == ids[-1]
    second = c.get("/telephony/calls/", {"before": nxt})
    assert [x.pk for x in second.context["calls"]] == [answered.pk] and second.context["next_before"] is None


def test_date_range_pages_go_by_start_time(world, customers, monkeypatch):
    from guanxi.telephony import views

    answered, abandoned, old = _calls(world, customers)
    with workspace_context(world.ws_a):  # a record written late for a call that started earlier
        late = Call.objects.create(external_id="p4", caller="+8613600136000", called=NUMBER, state="ended",
                                   started_at=old.started_at + dt.timedelta(minutes=1), disposition="answered")  # fmt: skip
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    c = world.client_for(world.olivia)
    since = (timezone.localdate() - dt.timedelta(days=1)).isoformat()
    first = c.get("/telephony/calls/", {"from": since})
    assert [x.pk for x in first.context["calls"]] == [abandoned.pk, answered.pk]  # same start: newer id first
    second = c.get("/telephony/calls/", {"from": since, "before": first.context["next_before"]})
    assert [x.pk for x in second.context["calls"]] == [late.pk, old.pk]
    assert "before=" in first.content.decode() and "from=" in first.content.decode()


def test_agents_see_their_own_calls_and_others_nothing(world, customers):
    answered, abandoned, _old = _calls(world, customers)
    sam = world.client_for(world.sam)
    assert {x.pk for x in sam.get("/telephony/calls/").context["calls"]} == {answered.pk}
    assert sam.get(f"/telephony/calls/{abandoned.pk}/").status_code == 404
    rita = world.client_for(world.rita)  # read-only: sees the workspace's calls, changes nothing
    assert rita.get("/telephony/calls/").status_code == 200
    assert rita.post(f"/telephony/calls/{answered.pk}/", {"notes": "x"}).status_code == 403
    from guanxi.core.errors import Forbidden
    from guanxi.telephony import services

    with (
        workspace_context(world.ws_a),
        pytest.raises(Forbidden),
    ):  # the service itself refuses, not only the page
        services.call_note_set(actor=world.rita, call_id=answered.pk, notes="x")
    with workspace_context(world.ws_a):
        assert Call.objects.get(pk=answered.pk).notes == ""
    oscar = world.client_for(world.oscar)  # another workspace's owner
    assert oscar.get(f"/telephony/calls/{answered.pk}/").status_code == 404
    assert oscar.get(f"/telephony/calls/{answered.pk}/recording/").status_code == 404


def test_detail_shows_legs_timestamps_path_and_saves_notes(world, customers):
    answered, *_ = _calls(world, customers)
    c = world.client_for(world.sam)
    r = c.get(f"/telephony/calls/{answered.pk}/")
    body = r.content.decode()
    assert r.status_code == 200
    assert "root → 1&gt; → sales" in body and "sip:sam@127.0.0.1" in body
    assert hashlib.sha256(AUDIO).hexdigest() in body and f"/telephony/calls/{answered.pk}/recording/" in body
    r = c.post(f"/telephony/calls/{answered.pk}/", {"notes": "客户要报价"})
    assert r.status_code == 302
    answered.refresh_from_db()
    assert answered.notes == "客户要报价"
    r = c.post(f"/telephony/calls/{answered.pk}/", {"notes": "x" * 5001})
    assert r.status_code == 422 and "5000" in r.content.decode()
    answered.refresh_from_db()
    assert answered.notes == "客户要报价"


def test_recording_is_served_with_ranges(world, customers):
    answered, *_ = _calls(world, customers)
    c = world.client_for(world.sam)
    url = f"/telephony/calls/{answered.pk}/recording/"
    full = c.get(url)
    assert full.status_code == 200 and b"".join(full.streaming_content) == AUDIO
    assert full["Accept-Ranges"] == "bytes" and full["Content-Type"] == "audio/x-wav"
    part = c.get(url, HTTP_RANGE="bytes=4-13")
    assert part.status_code == 206 and part["Content-Range"] == f"bytes 4-13/{len(AUDIO)}"
    assert b"".join(part.streaming_content) == AUDIO[4:14]
    tail = c.get(url, HTTP_RANGE="bytes=-4")
    assert b"".join(tail.streaming_content) == AUDIO[-4:]
    open_end = c.get(url, HTTP_RANGE="bytes=10000-")
    assert b"".join(open_end.streaming_content) == AUDIO[10000:]
    assert c.get(url, HTTP_RANGE=f"bytes={len(AUDIO)}-").status_code == 416


def test_checksum_verify_tells_a_changed_file(world, customers):
    answered, *_ = _calls(world, customers)
    c = world.client_for(world.sam)
    r = c.post(f"/telephony/calls/{answered.pk}/recording/verify/", follow=True)
    assert "Checksum verified" in r.content.decode()
    prompts.resolve(answered.recording).write_bytes(AUDIO + b"tampered")
    r = c.post(f"/telephony/calls/{answered.pk}/recording/verify/", follow=True)
    assert "Checksum mismatch" in r.content.decode()


def test_customer_page_shows_the_customers_calls(world, customers):
    answered, abandoned, old = _calls(world, customers)
    body = world.client_for(world.olivia).get(f"/customers/{customers['sam_c'].pk}/").content.decode()
    assert f"/telephony/calls/{answered.pk}/" in body
    assert f"/telephony/calls/{old.pk}/" not in body and f"/telephony/calls/{abandoned.pk}/" not in body


def test_call_records_api_filters(world, customers):
    from tests.contact_center.test_api import bearer

    answered, abandoned, old = _calls(world, customers)
    api = bearer(world, world.olivia)
    r = api.get("/telephony/calls", number="+8613900139000")
    assert [x["id"] for x in r.json()["items"]] == [old.pk]
    r = api.get("/telephony/calls", customer_id=customers["sam_c"].pk)
    assert [x["id"] for x in r.json()["items"]] == [answered.pk]
    since = (timezone.now() - dt.timedelta(hours=1)).isoformat()
    r = api.get("/telephony/calls", started_from=since)
    assert {x["id"] for x in r.json()["items"]} == {answered.pk, abandoned.pk}
    r = api.get("/telephony/calls", started_from=(timezone.now() - dt.timedelta(days=2)).isoformat(), limit=2)
    page = r.json()
    assert [x["id"] for x in page["items"]] == [abandoned.pk, answered.pk] and page["next_cursor"]
    r = api.get("/telephony/calls", started_from=(timezone.now() - dt.timedelta(days=2)).isoformat(), limit=2,
                cursor=page["next_cursor"])  # fmt: skip
    assert [x["id"] for x in r.json()["items"]] == [old.pk]
    r = api.get("/telephony/calls", number="12")
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "number"

"""Field visits (上门服务): schedule (double booking and a bad slot refused, naming the field), check in, check out
with the result, parts used, the customer's sign-off and a signature image, cancel; each step on the timeline; the
pages and the API; the outsider gets 404 and nothing changes."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from guanxi.core.context import workspace_context
from guanxi.core.errors import Forbidden, NotFound, ValidationFailed
from guanxi.customers.models import Interaction
from guanxi.service.models import FieldVisit, TicketAttachment
from guanxi.service.services import visits as svc
from guanxi.service.services.messages import Upload
from guanxi.service.services.tickets import ticket_create
from tests.api.conftest import _fresh_rate_limits, api_for, make_key  # noqa: F401
from tests.api.support import assert_error

pytestmark = pytest.mark.django_db
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
SLOT = dt.datetime(2026, 12, 1, 1, 0, tzinfo=dt.UTC)  # 09:00 in Shanghai


@pytest.fixture
def ticket(world, customers):
    with workspace_context(world.ws_a):
        return ticket_create(
            actor=world.alice,
            customer=customers["sam_c"],
            subject="空调漏水",
            assignee_id=world.alice.user_id,
        )


def _events(world, ticket) -> list[str]:
    with workspace_context(world.ws_a):
        return list(
            Interaction.objects.filter(source_type="service.ticket", source_id=str(ticket.pk))
            .order_by("id")
            .values_list("external_key", flat=True)
        )


def test_visit_lifecycle_through_the_services(world, customers, ticket):
    tech = world.sue.user_id
    with workspace_context(world.ws_a):
        with pytest.raises(ValidationFailed) as exc:
            svc.visit_schedule(actor=world.alice, ticket=ticket, technician_id=tech, slot_start=SLOT,
                               slot_end=SLOT - dt.timedelta(hours=1))  # fmt: skip
        assert set(exc.value.fields) == {"slot_end"}
        with pytest.raises(ValidationFailed) as exc:
            svc.visit_schedule(actor=world.alice, ticket=ticket, technician_id=world.oscar.user_id,
                               slot_start=SLOT, slot_end=SLOT + dt.timedelta(hours=2))  # fmt: skip
        assert set(exc.value.fields) == {"technician_id"}
        v = svc.visit_schedule(actor=world.alice, ticket=ticket, technician_id=tech, slot_start=SLOT,
                               slot_end=SLOT + dt.timedelta(hours=2), note="带密封胶")  # fmt: skip
        # the same technician, an overlapping slot: refused; a slot right after: fine
        with pytest.raises(ValidationFailed) as exc:
            svc.visit_schedule(actor=world.alice, ticket=ticket, technician_id=tech,
                               slot_start=SLOT + dt.timedelta(hours=1), slot_end=SLOT + dt.timedelta(hours=3))  # fmt: skip
        assert set(exc.value.fields) == {"slot_start"}
        assert FieldVisit.objects.count() == 1
        with pytest.raises(ValidationFailed):  # not on site yet
            svc.visit_check_out(actor=world.sue, visit_id=v.pk, result="修好", signed_by="张三丰")
        v = svc.visit_check_in(actor=world.sue, visit_id=v.pk)  # the technician checks in
        assert v.status == "on_site" and v.checked_in_at is not None
        with pytest.raises(ValidationFailed) as exc:
            svc.visit_check_out(actor=world.sue, visit_id=v.pk, result="", signed_by="",
                                parts_used=[{"name": "密封圈", "quantity": "0"}])  # fmt: skip
        assert set(exc.value.fields) == {"result", "signed_by"}
        with pytest.raises(ValidationFailed) as exc:
            svc.visit_check_out(actor=world.sue, visit_id=v.pk, result="修好", signed_by="张三丰",
                                parts_used=[{"name": "密封圈", "quantity": 2}, {"name": "", "quantity": "x"}])  # fmt: skip
        assert set(exc.value.fields) == {"parts_used.1.name", "parts_used.1.quantity"}
        with pytest.raises(ValidationFailed) as exc:  # an executable named .png is not a signature
            svc.visit_check_out(actor=world.sue, visit_id=v.pk, result="修好", signed_by="张三丰",
                                signature=Upload("sig.png", b"MZ\x90\x00"))  # fmt: skip
        assert set(exc.value.fields) == {"signature"}
        v.refresh_from_db()
        assert v.status == "on_site" and not TicketAttachment.objects.filter(ticket=ticket).exists()
        v = svc.visit_check_out(
            actor=world.sue, visit_id=v.pk, result="更换密封圈，已试机", signed_by="张三丰",
            parts_used=[{"name": "密封圈", "quantity": 2}], signature=Upload("签名.png", PNG),
            photos=[Upload("现场.png", PNG)],
        )  # fmt: skip
        assert v.status == "done" and v.checked_out_at >= v.checked_in_at
        assert v.parts_used == [{"name": "密封圈", "quantity": 2}]
        assert (
            v.signature.filename.endswith(".png")
            and TicketAttachment.objects.filter(ticket=ticket).count() == 2
        )
        with pytest.raises(ValidationFailed):
            svc.visit_cancel(actor=world.alice, visit_id=v.pk)  # done: cannot be cancelled
    events = _events(world, ticket)
    for step in ("scheduled", "check_in", "done"):
        assert f"ticket:{ticket.pk}:visit:{v.pk}:{step}" in events


def test_who_may_check_in(world, customers, ticket):
    with workspace_context(world.ws_a):
        v = svc.visit_schedule(actor=world.alice, ticket=ticket, technician_id=world.sue.user_id,
                               slot_start=SLOT, slot_end=SLOT + dt.timedelta(hours=1))  # fmt: skip
        with pytest.raises((Forbidden, NotFound)):
            svc.visit_check_in(actor=world.rita, visit_id=v.pk)  # read-only, not the technician
        with pytest.raises((Forbidden, NotFound)):
            svc.visit_cancel(actor=world.sue, visit_id=v.pk)  # the technician may not cancel another's ticket
        v.refresh_from_db()
        assert v.status == "scheduled"
        svc.visit_cancel(actor=world.alice, visit_id=v.pk, reason="客户改期")
        # the slot is free again
        svc.visit_schedule(actor=world.alice, ticket=ticket, technician_id=world.sue.user_id,
                           slot_start=SLOT, slot_end=SLOT + dt.timedelta(hours=1))  # fmt: skip
    with workspace_context(world.ws_b), pytest.raises(NotFound):
        svc.visit_check_in(actor=world.oscar, visit_id=v.pk)


def test_visit_pages(world, customers, ticket):
    c = world.client_for(world.alice)
    r = c.post(
        f"/service/tickets/{ticket.pk}/visits/",
        {
            "technician_id": world.alice.user_id,
            "slot_start": "2026-12-01T09:00",
            "slot_end": "2026-12-01T08:00",
        },
    )
    assert r.status_code == 302
    with workspace_context(world.ws_a):
        assert not FieldVisit.objects.exists()
    c.post(
        f"/service/tickets/{ticket.pk}/visits/",
        {"technician_id": world.alice.user_id, "slot_start": "2026-12-01T09:00", "slot_end": "2026-12-01T11:00",
         "address": "上海市浦东新区"},
    )  # fmt: skip
    with workspace_context(world.ws_a):
        v = FieldVisit.objects.get()
    assert timezone.localtime(v.slot_start).hour == 9 and v.address == "上海市浦东新区"
    page = c.get(f"/service/tickets/{ticket.pk}/").content.decode()
    assert f"/service/visits/{v.pk}/" in page
    assert "空调漏水" in c.get("/service/visits/?day=2026-12-01").content.decode()
    assert "空调漏水" not in c.get("/service/visits/?day=2026-12-02").content.decode()
    action = f"/service/visits/{v.pk}/action/"
    c.post(action, {"action": "check_in"})
    r = c.post(action, {"action": "check_out", "result": "修好", "signed_by": "张三丰",
                        "part_name_0": "密封圈", "part_qty_0": "2",
                        "signature": SimpleUploadedFile("sig.png", PNG, content_type="image/png")})  # fmt: skip
    assert r.status_code == 302
    v.refresh_from_db()
    assert v.status == "done" and v.parts_used == [{"name": "密封圈", "quantity": 2}] and v.signature_id
    detail = c.get(f"/service/visits/{v.pk}/").content.decode()
    assert "密封圈 × 2" in detail and "张三丰" in detail
    outsider = world.client_for(world.oscar)
    assert outsider.get(f"/service/visits/{v.pk}/").status_code == 404
    assert outsider.post(action, {"action": "check_in"}).status_code == 404


def test_visit_api(world, customers, ticket, api_for):  # noqa: F811
    api = api_for(world.alice)
    body = assert_error(
        api.post(f"/tickets/{ticket.pk}/visits", {"technician_id": world.alice.user_id,
                 "slot_start": "2026-12-01T09:00:00+08:00", "slot_end": "2026-12-01T23:30:00+08:00"}),
        422, "validation_error",
    )  # fmt: skip
    assert [f["field"] for f in body["fields"]] == ["slot_end"]  # longer than 12 hours
    r = api.post(f"/tickets/{ticket.pk}/visits", {"technician_id": world.alice.user_id,
                 "slot_start": "2026-12-01T09:00:00+08:00", "slot_end": "2026-12-01T11:00:00+08:00"})  # fmt: skip
    assert r.status_code == 201, r.content
    vid = r.json()["id"]
    assert api.post(f"/visits/{vid}/check-in").json()["status"] == "on_site"
    body = assert_error(
        api.post(f"/visits/{vid}/check-out", {"result": "好了", "signed_by": "张三丰",
                 "signature": {"name": "s.png", "content_base64": "***"}}),
        422, "validation_error",
    )  # fmt: skip
    assert [f["field"] for f in body["fields"]] == ["signature"]
    r = api.post(f"/visits/{vid}/check-out", {
        "result": "好了", "signed_by": "张三丰", "parts_used": [{"name": "滤网", "quantity": 1}],
        "signature": {"name": "s.png", "content_base64": base64.b64encode(PNG).decode()},
    })  # fmt: skip
    assert r.status_code == 200 and r.json()["status"] == "done" and r.json()["signature_attachment_id"]
    listed = api.get("/visits", technician_id=world.alice.user_id).json()["items"]
    assert [v["id"] for v in listed] == [vid]
    assert [v["id"] for v in api.get(f"/tickets/{ticket.pk}/visits").json()] == [vid]
    outsider = api_for(world.oscar)
    assert_error(outsider.get(f"/visits/{vid}"), 404, "not_found")
    assert_error(outsider.post(f"/visits/{vid}/cancel", {}), 404, "not_found")
    assert outsider.get("/visits").json()["items"] == []


def test_visit_list_queries_do_not_grow_with_rows(world, customers, ticket, api_for):  # noqa: F811
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    api = api_for(world.alice)

    def add(first, n):
        with workspace_context(world.ws_a):
            for i in range(first, first + n):
                start = SLOT + dt.timedelta(days=i)
                svc.visit_schedule(actor=world.alice, ticket=ticket, technician_id=world.alice.user_id,
                                   slot_start=start, slot_end=start + dt.timedelta(hours=1))  # fmt: skip

    add(0, 1)
    api.get("/visits")  # warm: the key lookup is cached
    with CaptureQueriesContext(connection) as one:
        assert len(api.get("/visits").json()["items"]) == 1
    add(1, 5)
    with CaptureQueriesContext(connection) as six:
        assert len(api.get("/visits").json()["items"]) == 6
    assert len(six) == len(one)


def test_the_technician_is_told_in_app_and_by_email_in_their_language(
    world, customers, ticket, django_capture_on_commit_callbacks
):
    from django.core import mail

    from guanxi.sales.models import ActivityNotification

    sue = world.sue.user
    sue.language, sue.email = "en", "sue@example.com"
    sue.save(update_fields=["language", "email"])
    with workspace_context(world.ws_a), django_capture_on_commit_callbacks(execute=True):
        v = svc.visit_schedule(actor=world.alice, ticket=ticket, technician_id=sue.pk, slot_start=SLOT,
                               slot_end=SLOT + dt.timedelta(hours=2), address="上海市徐汇区漕溪北路1号", note="带密封胶")  # fmt: skip
    with workspace_context(world.ws_a):
        notices = list(ActivityNotification.objects.filter(user=sue))
        assert [n.url for n in notices] == [f"/service/visits/{v.pk}/"]
        assert (
            notices[0].title.startswith("Field visit 2026-12-01 09:00-11:00")
            and f"#{ticket.pk}" in notices[0].title
        )
        # nobody else was told
        assert not ActivityNotification.objects.exclude(user=sue).exists()
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.to == ["sue@example.com"] and sent.subject.startswith("Field visit 2026-12-01 09:00-11:00")
    assert "漕溪北路" in sent.body and "带密封胶" in sent.body and f"/service/visits/{v.pk}/" in sent.body

    # a failed booking (double booking) tells nobody
    with (
        workspace_context(world.ws_a),
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(ValidationFailed),
    ):
        svc.visit_schedule(actor=world.alice, ticket=ticket, technician_id=sue.pk, slot_start=SLOT,
                           slot_end=SLOT + dt.timedelta(hours=1))  # fmt: skip
    with workspace_context(world.ws_a):
        assert ActivityNotification.objects.filter(user=sue).count() == 1
    assert len(mail.outbox) == 1

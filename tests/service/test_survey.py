"""Satisfaction surveys (满意度调查): builder, send on ticket close, the public single-use link, follow-up tickets,
segment sends, and CSAT / NPS against hand-computed values."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core import mail

from guanxi.core.context import workspace_context
from guanxi.core.errors import Forbidden, ValidationFailed
from guanxi.customers.models import Customer, Interaction
from guanxi.service import selectors_survey
from guanxi.service.models import (
    Survey,
    SurveyAnswer,
    SurveyInvitation,
    SurveyQuestion,
    SurveyResponse,
    Ticket,
    TicketCategory,
)
from guanxi.service.services import surveys as svc
from guanxi.service.services.tickets import ticket_close, ticket_create

pytestmark = pytest.mark.django_db

QUESTIONS = [
    {"kind": "rating", "text": "您对本次服务满意吗？", "required": False},
    {"kind": "nps", "text": "您有多大可能向朋友推荐我们？", "required": False},
    {
        "kind": "single",
        "text": "问题是否已解决？",
        "choices": ["已解决", "部分解决", "未解决"],
        "required": False,
    },
    {"kind": "multi", "text": "哪些方面需要改进？", "choices": ["速度", "态度", "专业"], "required": False},
    {"kind": "text", "text": "其他建议", "required": False},
]


@pytest.fixture
def survey(world):
    with workspace_context(world.ws_a):
        return svc.survey_create(actor=world.alice, name="服务回访", questions=QUESTIONS, send_on_close=True)


def _qid(survey, kind):
    return SurveyQuestion.objects.get(survey=survey, kind=kind).pk


def _token_from_mail(msg) -> str:
    m = re.search(r"/s/([A-Za-z0-9_-]+)/", msg.body)
    assert m, msg.body
    return m.group(1)


def _close_with_survey(world, customers, capture, *, customer="sam_c", **kw):
    with workspace_context(world.ws_a):
        c = customers[customer]
        Customer.objects.filter(pk=c.pk).update(email=f"{c.pk}@example.com")
        t = ticket_create(actor=None, customer=c.pk, subject="空调不制冷", channel="phone", **kw)
        with capture(execute=True):
            ticket_close(actor=None, ticket=t)
    return t


# --- builder -------------------------------------------------------------------------------------------------------


def test_builder_keeps_order_and_names_bad_questions(world, survey):
    with workspace_context(world.ws_a):
        qs = list(SurveyQuestion.objects.filter(survey=survey).order_by("position"))
        assert [q.kind for q in qs] == ["rating", "nps", "single", "multi", "text"]
        assert qs[2].choices == ["已解决", "部分解决", "未解决"]
        with pytest.raises(ValidationFailed) as exc:
            svc.survey_create(
                actor=world.alice,
                name="坏问卷",
                questions=[
                    {"kind": "stars", "text": "x"},
                    {"kind": "single", "text": "y", "choices": ["只有一个"]},
                ],
            )
        assert set(exc.value.fields) == {"questions[0].kind", "questions[1].choices"}
        with pytest.raises(ValidationFailed) as exc:
            svc.survey_create(actor=world.alice, name="服务回访", questions=QUESTIONS)
        assert "name" in exc.value.fields
        with pytest.raises(Forbidden):
            svc.survey_create(actor=world.sam, name="销售问卷", questions=QUESTIONS)
        assert Survey.objects.count() == 1


def test_questions_of_an_answered_survey_cannot_change(
    world, customers, survey, django_capture_on_commit_callbacks
):
    _close_with_survey(world, customers, django_capture_on_commit_callbacks)
    token = _token_from_mail(mail.outbox[-1])
    svc.survey_answer(token=token, answers={f"q{_qid_ws(world, survey, 'rating')}": "5"})
    with workspace_context(world.ws_a):
        with pytest.raises(Exception) as exc:
            svc.survey_update(
                actor=world.alice, survey_id=survey.pk, questions=[{"kind": "text", "text": "新"}]
            )
        assert getattr(exc.value, "code", "") == "survey_answered"
        assert SurveyQuestion.objects.filter(survey=survey).count() == 5
        svc.survey_update(actor=world.alice, survey_id=survey.pk, name="服务回访 2026")
        assert Survey.objects.get(pk=survey.pk).name == "服务回访 2026"


def _qid_ws(world, survey, kind):
    with workspace_context(world.ws_a):
        return _qid(survey, kind)


# --- sending on close, answering, the follow-up -------------------------------------------------------------------


def test_closing_a_ticket_mails_a_single_use_link(
    world, customers, survey, django_capture_on_commit_callbacks
):
    t = _close_with_survey(world, customers, django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 1
    msg = mail.outbox[0]
    assert msg.to == [f"{customers['sam_c'].pk}@example.com"] and msg.subject == "服务回访"
    token = _token_from_mail(msg)
    with workspace_context(world.ws_a):
        inv = SurveyInvitation.objects.get()
        assert inv.ticket_id == t.pk and inv.sent_at is not None
        assert token not in inv.token_hash and inv.token_hash == svc.token_hash(
            token
        )  # only the hash is stored
        # closing again after a reopen sends nothing new
        from guanxi.service.services.tickets import ticket_set_status

        ticket_set_status(actor=None, ticket=t, status="open")
        with django_capture_on_commit_callbacks(execute=True):
            ticket_close(actor=None, ticket=t)
        assert SurveyInvitation.objects.count() == 1 and len(mail.outbox) == 1


def test_no_survey_without_an_email_or_a_close_survey(world, customers, django_capture_on_commit_callbacks):
    with workspace_context(world.ws_a):
        svc.survey_create(actor=world.alice, name="手动问卷", questions=QUESTIONS, send_on_close=False)
        t = ticket_create(actor=None, customer=customers["sue_c"].pk, subject="x", channel="phone")
        with django_capture_on_commit_callbacks(execute=True):
            ticket_close(actor=None, ticket=t)
        assert SurveyInvitation.objects.count() == 0 and not mail.outbox


def test_a_detractor_opens_one_follow_up_ticket(world, customers, survey, django_capture_on_commit_callbacks):
    with workspace_context(world.ws_a):
        cat = TicketCategory.objects.create(name="安装")
    t = _close_with_survey(
        world, customers, django_capture_on_commit_callbacks, category=cat, team_id=world.team_east.pk
    )
    token = _token_from_mail(mail.outbox[0])
    with workspace_context(world.ws_a):
        ids = {k: _qid(survey, k) for k in ("rating", "nps", "single", "multi", "text")}
    answers = {
        f"q{ids['rating']}": "3",
        f"q{ids['nps']}": "4",
        f"q{ids['single']}": "未解决",
        f"q{ids['multi']}": ["态度", "速度"],
        f"q{ids['text']}": "等了太久",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = svc.survey_answer(token=token, answers=answers)
    with workspace_context(world.ws_a):
        assert response.rating == 3 and response.nps == 4 and response.team_id == world.team_east.pk
        assert response.ticket_category_id == cat.pk
        multi = SurveyAnswer.objects.get(response=response, question_id=ids["multi"])
        assert multi.choices == ["速度", "态度"]  # in the survey's order
        inv = SurveyInvitation.objects.get()
        follow = Ticket.objects.get(channel="survey")
        assert inv.followup_ticket_id == follow.pk and follow.customer_id == customers["sam_c"].pk
        assert follow.priority == "high" and follow.category_id == cat.pk and f"#{t.pk}" in follow.subject
        assert "等了太久" in follow.description
        # the answer is on the customer's timeline
        row = Interaction.objects.get(kind="survey", customer=customers["sam_c"])
        assert "NPS 4/10" in row.subject and "等了太久" in row.body
        # closing the follow-up ticket does not survey the customer about the survey
        with django_capture_on_commit_callbacks(execute=True):
            ticket_close(actor=None, ticket=follow)
        assert SurveyInvitation.objects.count() == 1
    # answering twice: a clear error, nothing changed, no second follow-up
    with pytest.raises(svc.AlreadyAnswered):
        svc.survey_answer(token=token, answers={f"q{ids['nps']}": "0"})
    with workspace_context(world.ws_a):
        assert SurveyResponse.objects.count() == 1 and Ticket.objects.filter(channel="survey").count() == 1
        assert SurveyResponse.objects.get().nps == 4


@pytest.mark.parametrize(
    ("rating", "nps", "follow"), [(2, None, True), (1, 9, True), (3, 7, False), (5, 10, False)]
)
def test_follow_up_thresholds(
    world, customers, survey, django_capture_on_commit_callbacks, rating, nps, follow
):
    _close_with_survey(world, customers, django_capture_on_commit_callbacks)
    token = _token_from_mail(mail.outbox[0])
    with workspace_context(world.ws_a):
        answers = {f"q{_qid(survey, 'rating')}": str(rating)}
        if nps is not None:
            answers[f"q{_qid(survey, 'nps')}"] = str(nps)
    svc.survey_answer(token=token, answers=answers)
    with workspace_context(world.ws_a):
        assert Ticket.objects.filter(channel="survey").exists() is follow


def test_forged_expired_and_bad_answers_change_nothing(
    world, customers, survey, django_capture_on_commit_callbacks
):
    _close_with_survey(world, customers, django_capture_on_commit_callbacks)
    token = _token_from_mail(mail.outbox[0])
    with pytest.raises(svc.InvalidLink):
        svc.survey_answer(token=token[:-2] + "xx", answers={})
    with pytest.raises(svc.InvalidLink):
        svc.survey_answer(token="", answers={})
    with workspace_context(world.ws_a):
        rid, nid = _qid(survey, "rating"), _qid(survey, "nps")
        sid = _qid(survey, "single")
        SurveyQuestion.objects.filter(pk=rid).update(required=True)
    with pytest.raises(ValidationFailed) as exc:
        svc.survey_answer(token=token, answers={f"q{nid}": "11", f"q{sid}": "不存在的选项"})
    assert set(exc.value.fields) == {f"q{rid}", f"q{nid}", f"q{sid}"}
    with workspace_context(world.ws_a):
        SurveyInvitation.objects.update(expires_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    with pytest.raises(svc.LinkExpired):
        svc.survey_answer(token=token, answers={f"q{rid}": "5"})
    with workspace_context(world.ws_a):
        assert SurveyResponse.objects.count() == 0 and SurveyAnswer.objects.count() == 0
        assert SurveyInvitation.objects.get().answered_at is None


# --- the public page -----------------------------------------------------------------------------------------------


def test_public_page_answers_once_without_signing_in(
    world, customers, survey, client, django_capture_on_commit_callbacks
):
    _close_with_survey(world, customers, django_capture_on_commit_callbacks)
    token = _token_from_mail(mail.outbox[0])
    with workspace_context(world.ws_a):
        rid, nid = _qid(survey, "rating"), _qid(survey, "nps")
    r = client.get(f"/s/{token}/")
    assert r.status_code == 200 and "您对本次服务满意吗？" in r.content.decode()
    assert 'name="viewport"' in r.content.decode()
    r = client.get(f"/s/{token}/?lang=en")
    assert "Send my answers" in r.content.decode()
    r = client.post(f"/s/{token}/", {f"q{rid}": "9"})
    assert r.status_code == 422
    r = client.post(f"/s/{token}/", {f"q{rid}": "5", f"q{nid}": "10", "lang": "en"})
    assert r.status_code == 200 and "Thank you" in r.content.decode()
    r = client.post(f"/s/{token}/", {f"q{rid}": "1", f"q{nid}": "0"})
    assert r.status_code == 409
    assert "已经" in r.content.decode() or "already" in r.content.decode()
    assert client.get("/s/forged-token-123/").status_code == 404
    with workspace_context(world.ws_a):
        assert SurveyResponse.objects.get().rating == 5


# --- sending to a segment ------------------------------------------------------------------------------------------


def test_send_to_a_customer_filter(world, customers, survey, django_capture_on_commit_callbacks):
    with workspace_context(world.ws_a):
        Customer.objects.filter(pk=customers["sam_c"].pk).update(
            city="上海", email="a@example.com", consent_email=True
        )
        Customer.objects.filter(pk=customers["sue_c"].pk).update(
            city="上海", email="b@example.com", consent_email=False
        )
        Customer.objects.filter(pk=customers["olivia_c"].pk).update(
            city="北京", email="c@example.com", consent_email=True
        )
        with django_capture_on_commit_callbacks(execute=True):
            n = svc.survey_send_to_segment(actor=world.alice, survey_id=survey.pk, params={"city": "上海"})
        assert n == 1 and [m.to for m in mail.outbox] == [["a@example.com"]]
        # again: the open invitation is not duplicated
        assert (
            svc.survey_send_to_segment(actor=world.alice, survey_id=survey.pk, params={"city": "上海"}) == 0
        )
        with pytest.raises(Forbidden):
            svc.survey_send_to_segment(actor=world.sam, survey_id=survey.pk, params={})
        assert SurveyInvitation.objects.count() == 1


# --- CSAT and NPS, by hand ----------------------------------------------------------------------------------------


def _answered(world, customers, survey, capture, *, rating, nps, agent, team, category, when):
    """One closed ticket and its answered survey; the answer moved to ``when``."""
    mail.outbox.clear()
    with workspace_context(world.ws_a):
        c = customers["sam_c"]
        Customer.objects.filter(pk=c.pk).update(email="s@example.com")
        t = ticket_create(actor=None, customer=c.pk, subject="s", channel="phone", category=category,
                          assignee_id=agent, team_id=team)  # fmt: skip
        with capture(execute=True):
            ticket_close(actor=None, ticket=t)
        rid, nid, tid = _qid(survey, "rating"), _qid(survey, "nps"), _qid(survey, "text")
    answers = {f"q{tid}": "ok"}
    if rating is not None:
        answers[f"q{rid}"] = str(rating)
    if nps is not None:
        answers[f"q{nid}"] = str(nps)
    response = svc.survey_answer(token=_token_from_mail(mail.outbox[0]), answers=answers)
    with workspace_context(world.ws_a):
        SurveyResponse.objects.filter(pk=response.pk).update(answered_at=when)


def test_csat_and_nps_match_hand_computed_values(
    world, customers, survey, django_capture_on_commit_callbacks
):
    with workspace_context(world.ws_a):
        cat_a = TicketCategory.objects.create(name="安装")
        cat_b = TicketCategory.objects.create(name="维修")
    alice, sue, east = world.alice.user_id, world.sue.user_id, world.team_east.pk
    jan, feb = dt.datetime(2026, 1, 15, 4, tzinfo=dt.UTC), dt.datetime(2026, 2, 15, 4, tzinfo=dt.UTC)
    rows = [  # rating, nps, agent, team, category, month
        (5, 10, alice, east, cat_a, jan),
        (4, 9, alice, east, cat_a, jan),
        (2, 3, alice, east, cat_b, feb),
        (3, 7, sue, None, cat_b, feb),
        (5, 8, sue, None, cat_b, feb),
        (None, None, sue, None, cat_b, feb),  # answered only the text question
    ]
    for rating, nps, agent, team, cat, when in rows:
        _answered(world, customers, survey, django_capture_on_commit_callbacks,
                  rating=rating, nps=nps, agent=agent, team=team, category=cat, when=when)  # fmt: skip
    with workspace_context(world.ws_a):
        total = selectors_survey.satisfaction_total(actor=world.mark)
        # ratings 5,4,2,3,5: 3 of 5 are 4-5 -> 60.0; NPS 10,9,3,7,8: (2 promoters - 1 detractor) / 5 -> 20.0
        assert (total.responses, total.rated, total.satisfied, total.csat) == (6, 5, 3, 60.0)
        assert (total.nps_answers, total.promoters, total.detractors, total.nps) == (5, 2, 1, 20.0)
        by_agent = {
            s.key: (s.csat, s.nps) for s in selectors_survey.satisfaction_by(actor=world.mark, by="agent")
        }
        # alice: 5,4,2 -> 2/3 = 66.7; NPS 10,9,3 -> (2-1)/3 = 33.3. sue: 3,5 -> 50.0; NPS 7,8 -> 0.0
        assert by_agent == {alice: (66.7, 33.3), sue: (50.0, 0.0)}
        by_team = {
            s.key: (s.csat, s.nps) for s in selectors_survey.satisfaction_by(actor=world.mark, by="team")
        }
        assert by_team == {east: (66.7, 33.3), None: (50.0, 0.0)}
        by_cat = {
            s.key: (s.csat, s.nps) for s in selectors_survey.satisfaction_by(actor=world.mark, by="category")
        }
        # A: 5,4 / 10,9 -> 100, 100. B: 2,3,5 -> 33.3; NPS 3,7,8 -> (0-1)/3 = -33.3
        assert by_cat == {cat_a.pk: (100.0, 100.0), cat_b.pk: (33.3, -33.3)}
        months = selectors_survey.satisfaction_by(actor=world.mark, by="period", period="month")
        assert [(m.key.date().isoformat(), m.responses, m.csat, m.nps) for m in months] == [
            ("2026-01-01", 2, 100.0, 100.0),
            ("2026-02-01", 4, 33.3, -33.3),
        ]
        feb_only = selectors_survey.satisfaction_total(
            actor=world.mark,
            start=dt.datetime(2026, 2, 1, tzinfo=dt.UTC),
            end=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
        )
        assert (feb_only.responses, feb_only.csat, feb_only.nps) == (4, 33.3, -33.3)
        # one follow-up each for the detractor (alice's NPS 3, rating 2); none for the others
        assert Ticket.objects.filter(channel="survey").count() == 1
    with workspace_context(world.ws_b):
        empty = selectors_survey.satisfaction_total(actor=world.oscar)
        assert (empty.responses, empty.csat, empty.nps) == (0, None, None)


# --- pages ---------------------------------------------------------------------------------------------------------


def test_builder_and_detail_pages(world):
    c = world.client_for(world.alice)
    assert c.get("/service/surveys/new/").status_code == 200
    data = {
        "name": "上门服务回访",
        "send_on_close": "1",
        "q-0-kind": "nps", "q-0-text": "推荐意愿", "q-0-position": "2", "q-0-required": "1",
        "q-1-kind": "rating", "q-1-text": "满意度", "q-1-position": "1", "q-1-required": "1",
        "q-2-kind": "single", "q-2-text": "是否准时", "q-2-choices": "准时\n迟到", "q-2-position": "3",
        "q-3-kind": "text", "q-3-text": "", "q-3-position": "4",
    }  # fmt: skip
    r = c.post("/service/surveys/new/", data)
    assert r.status_code == 302
    with workspace_context(world.ws_a):
        s = Survey.objects.get(name="上门服务回访")
        assert [(q.kind, q.required) for q in SurveyQuestion.objects.filter(survey=s)] == [
            ("rating", True),
            ("nps", True),
            ("single", False),
        ]
    r = c.get(f"/service/surveys/{s.pk}/")
    assert r.status_code == 200 and "推荐意愿" in r.content.decode()
    assert "上门服务回访" in c.get("/service/surveys/").content.decode()
    r = c.post(
        "/service/surveys/new/", {"name": "", "q-0-kind": "single", "q-0-text": "x", "q-0-choices": "a"}
    )
    assert r.status_code == 422
    assert world.client_for(world.oscar).get(f"/service/surveys/{s.pk}/").status_code == 404

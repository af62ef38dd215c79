"""The dashboard's complaint and satisfaction trend: complaints opened and survey ratings per month, from the
service module's own records (tickets of type complaint, answered satisfaction surveys), with filters and CSV."""

from __future__ import annotations

import datetime as dt
import re
from unittest import mock

from django.core import mail

from guanxi.analytics import selectors
from guanxi.core.context import workspace_context
from guanxi.customers.models import Customer
from guanxi.service.models import SurveyQuestion
from guanxi.service.services import surveys as svc
from guanxi.service.services.tickets import ticket_close, ticket_create


def _complaint_answered(world, customer, when: dt.datetime, rating: str, survey, capture) -> None:
    with mock.patch("django.utils.timezone.now", return_value=when):
        t = ticket_create(actor=world.alice, customer=customer.pk, subject="投诉：送货太慢", type="complaint")
        with capture(execute=True):
            ticket_close(actor=None, ticket=t)
        token = re.search(r"/s/([A-Za-z0-9_-]+)/", mail.outbox[-1].body).group(1)
        qid = SurveyQuestion.objects.get(survey=survey, kind="rating").pk
        svc.survey_answer(token=token, answers={f"q{qid}": rating})


def test_complaints_and_ratings_per_month_with_filters_and_csv(
    world, customers, django_capture_on_commit_callbacks
):
    with workspace_context(world.ws_a):
        survey = svc.survey_create(
            actor=world.alice,
            name="服务回访",
            questions=[{"kind": "rating", "text": "您对本次服务满意吗？", "required": False}],
            send_on_close=True,
        )
        c = customers["sam_c"]
        Customer.objects.filter(pk=c.pk).update(email="sam_c@example.com", province="广东")
        for when, rating in [
            (dt.datetime(2026, 9, 10, 9, tzinfo=dt.UTC), "2"),
            (dt.datetime(2026, 10, 10, 9, tzinfo=dt.UTC), "4"),
            (dt.datetime(2026, 10, 12, 9, tzinfo=dt.UTC), "5"),
        ]:
            _complaint_answered(world, c, when, rating, survey, django_capture_on_commit_callbacks)
        rows = selectors.service_trend(actor=world.olivia, filters=selectors.Filters())
        assert [(r["period"], r["complaints"], r["responses"], r["avg_rating"]) for r in rows] == [
            (dt.date(2026, 9, 1), 1, 1, 2.0),
            (dt.date(2026, 10, 1), 2, 2, 4.5),
        ]
        october = selectors.Filters(start=dt.date(2026, 10, 1))
        assert [r["complaints"] for r in selectors.service_trend(actor=world.olivia, filters=october)] == [2]
        elsewhere = selectors.Filters(region="北京")
        assert selectors.service_trend(actor=world.olivia, filters=elsewhere) == []
    c = world.client_for(world.mark)
    csv = c.get("/analytics/charts.csv?chart=service").content.decode("utf-8-sig").strip().splitlines()
    assert csv[0] == "period,complaints,responses,avg_rating,avg_nps"
    assert csv[1:] == ["2026-09-01,1,1,2.0,", "2026-10-01,2,2,4.5,"]
    page = c.get("/analytics/").content.decode()
    assert "Complaints and satisfaction" in page or "投诉与满意度" in page
    # the outsider's workspace sees none of it
    with workspace_context(world.ws_b):
        assert selectors.service_trend(actor=world.oscar, filters=selectors.Filters()) == []

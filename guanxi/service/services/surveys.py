"""Writes of the satisfaction surveys (满意度调查): the builder, invitations, the public answer, the follow-up.

- ``survey_create`` / ``survey_update``: a survey and its ordered questions (rating 1-5, NPS 0-10, single or multiple
  choice, text; each required or not). Questions of a survey that already has answers cannot be replaced.
- ``survey_send_on_close``: the ``hooks.ON_TICKET_CLOSED`` callback (registered in ``models.surveys``): invites the
  ticket's customer to the newest active survey marked "send when a ticket closes", once per ticket.
- ``survey_send_to_segment``: invites the customers of a customer-list filter (with an email and email consent).
- ``survey_answer``: the public page's write. Finds the invitation by the SHA-256 of the link's token, refuses a
  forged, expired or already used link (nothing changed), stores the answers, writes the customer timeline, and for
  a detractor (NPS 0-6) or a low rating (1-2) opens one follow-up ticket through ``ticket_create``.

Each invitation's link carries a random 32-byte token; only its hash is stored, so a database reader cannot answer
in a customer's name. The email is sent by the job ``tasks_survey.send_survey_email`` after commit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import rls
from guanxi.core.context import workspace_context
from guanxi.core.errors import AppError, Conflict, Forbidden, NotFound, ValidationFailed
from guanxi.customers.models import Customer, InteractionKind
from guanxi.customers.selectors import customer_filter
from guanxi.customers.timeline import interaction_record
from guanxi.ledger.services import audit_record, snapshot
from guanxi.service.models.surveys import (
    InvitationSource,
    QuestionKind,
    Survey,
    SurveyAnswer,
    SurveyInvitation,
    SurveyQuestion,
    SurveyResponse,
)
from guanxi.workspaces import permissions
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module

MAX_QUESTIONS = 30
MAX_CHOICES = 20
TEXT_ANSWER_MAX = 2000
LINK_DAYS = 30
SEGMENT_MAX = 5000
LOW_RATING_MAX = 2  # a rating of 1 or 2 opens a follow-up
DETRACTOR_MAX = 6  # NPS 0-6: a detractor
RANGES = {QuestionKind.RATING: (1, 5), QuestionKind.NPS: (0, 10)}


class InvalidLink(NotFound):
    code = "invalid_link"


class AlreadyAnswered(Conflict):
    code = "already_answered"


class LinkExpired(Conflict):
    code = "link_expired"


def token_hash(token: str) -> str:
    return hashlib.sha256(str(token).encode("utf-8", "replace")).hexdigest()


def survey_link(token: str) -> str:
    return settings.GUANXI_BASE_URL.rstrip("/") + reverse("survey_public", args=[token])


def may_edit_surveys(actor: Membership) -> bool:
    return permissions.can(actor, Module.SERVICE, "edit")


def _require_edit(actor: Membership) -> None:
    if not permissions.can(actor, Module.SERVICE, "view"):
        raise NotFound()
    if not may_edit_surveys(actor):
        raise Forbidden()


# --- builder --------------------------------------------------------------------------------------------------------


def _clean_questions(raw: Any) -> list[dict[str, Any]]:
    errors: dict[str, str] = {}
    if not isinstance(raw, list | tuple) or not raw:
        raise ValidationFailed(fields={"questions": _("Add at least one question.")})
    if len(raw) > MAX_QUESTIONS:
        raise ValidationFailed(fields={"questions": _("At most %(n)s questions.") % {"n": MAX_QUESTIONS}})
    out = []
    for i, q in enumerate(raw):
        q = dict(q) if isinstance(q, Mapping) else {}
        field = f"questions[{i}]"
        kind = str(q.get("kind") or "")
        text = str(q.get("text") or "").strip()
        if kind not in QuestionKind.values:
            errors[f"{field}.kind"] = _("Type must be rating, nps, single, multi or text.")
        if not text:
            errors[f"{field}.text"] = _("Write the question.")
        elif len(text) > 300:
            errors[f"{field}.text"] = _("At most %(n)s characters.") % {"n": 300}
        choices: list[str] = []
        if kind in (QuestionKind.SINGLE, QuestionKind.MULTI):
            raw_choices = q.get("choices") or []
            if isinstance(raw_choices, str):
                raw_choices = raw_choices.splitlines()
            for c in raw_choices:
                c = str(c).strip()[:100]
                if c and c not in choices:
                    choices.append(c)
            if not 2 <= len(choices) <= MAX_CHOICES:
                errors[f"{field}.choices"] = _("Give between 2 and %(n)s different options.") % {
                    "n": MAX_CHOICES
                }
        out.append(
            {"kind": kind, "text": text, "choices": choices, "required": bool(q.get("required", True))}
        )
    if errors:
        raise ValidationFailed(fields=errors)
    return out


def _clean_name(name: Any, errors: dict[str, str]) -> str:
    name = str(name or "").strip()
    if not name:
        errors["name"] = _("This field is required.")
    elif len(name) > 120:
        errors["name"] = _("At most %(n)s characters.") % {"n": 120}
    return name


def _write_questions(survey: Survey, questions: list[dict[str, Any]]) -> None:
    SurveyQuestion.objects.filter(survey=survey).delete()
    SurveyQuestion.objects.bulk_create(
        [
            SurveyQuestion(workspace=survey.workspace, survey=survey, position=i, **q)
            for i, q in enumerate(questions)
        ]
    )


def survey_create(
    *,
    actor: Membership,
    name: str,
    questions: list[dict[str, Any]],
    intro: str = "",
    send_on_close: bool = False,
    is_active: bool = True,
) -> Survey:
    """Build a survey with its questions in the given order. Refuses an empty or duplicate name, no questions, an
    unknown question type, a choice question with fewer than two options (fields named ``questions[i].…``)."""
    _require_edit(actor)
    errors: dict[str, str] = {}
    name = _clean_name(name, errors)
    if len(str(intro or "")) > 2000:
        errors["intro"] = _("At most %(n)s characters.") % {"n": 2000}
    if not errors and Survey.objects.filter(name=name).exists():
        errors["name"] = _("A survey with this name already exists.")
    if errors:
        raise ValidationFailed(fields=errors)
    cleaned = _clean_questions(questions)
    with transaction.atomic():
        survey = Survey.objects.create(
            name=name,
            intro=str(intro or "").strip(),
            send_on_close=bool(send_on_close),
            is_active=bool(is_active),
            created_by=actor.user,
        )
        _write_questions(survey, cleaned)
        audit_record(
            workspace=actor.workspace, actor=actor.user, action="survey.create", obj=survey,
            after={**snapshot(survey), "questions": cleaned},
        )  # fmt: skip
    return survey


def survey_update(*, actor: Membership, survey_id: Any, **changes: Any) -> Survey:
    """Change a survey's name, intro, active and send-on-close flags, or (while nobody has answered it) its
    questions. Refuses new questions once answers exist (Conflict): earlier answers would lose their meaning."""
    _require_edit(actor)
    unknown = set(changes) - {"name", "intro", "is_active", "send_on_close", "questions"}
    if unknown:
        raise ValidationFailed(fields={k: _("Unknown field.") for k in sorted(unknown)})
    errors: dict[str, str] = {}
    if "name" in changes:
        changes["name"] = _clean_name(changes["name"], errors)
    if errors:
        raise ValidationFailed(fields=errors)
    questions = _clean_questions(changes.pop("questions")) if "questions" in changes else None
    with transaction.atomic():
        survey = Survey.objects.select_for_update().filter(pk=_int(survey_id)).first()
        if survey is None:
            raise NotFound()
        if "name" in changes and Survey.objects.filter(name=changes["name"]).exclude(pk=survey.pk).exists():
            raise ValidationFailed(fields={"name": _("A survey with this name already exists.")})
        before = snapshot(survey)
        for k, v in changes.items():
            setattr(survey, k, bool(v) if k in ("is_active", "send_on_close") else str(v or "").strip())
        survey.save()
        if questions is not None:
            if SurveyResponse.objects.filter(survey=survey).exists():
                raise Conflict(
                    _("This survey has answers: copy it into a new survey to change its questions."),
                    code="survey_answered",
                )
            _write_questions(survey, questions)
        audit_record(
            workspace=actor.workspace, actor=actor.user, action="survey.update", obj=survey,
            before=before, after=snapshot(survey),
        )  # fmt: skip
    return survey


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# --- invitations ----------------------------------------------------------------------------------------------------


def _invite(
    *, survey: Survey, customer: Customer, source: str, ticket: Any = None, language: str = "zh-hans"
) -> tuple[SurveyInvitation, str]:
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    inv = SurveyInvitation.objects.create(
        survey=survey,
        customer=customer,
        ticket=ticket,
        source=source,
        email=customer.email,
        language=language,
        token_hash=token_hash(token),
        agent_id=getattr(ticket, "assignee_id", None),
        team_id=getattr(ticket, "team_id", None),
        ticket_category_id=getattr(ticket, "category_id", None),
        expires_at=now + dt.timedelta(days=LINK_DAYS),
    )
    return inv, token


def _mail_after_commit(pairs: list[tuple[int, str]]) -> None:
    from guanxi.service.tasks_survey import send_survey_email  # noqa: PLC0415

    for inv_id, token in pairs:
        transaction.on_commit(lambda i=inv_id, t=token: send_survey_email(i, t))


def close_survey() -> Survey | None:
    """The survey sent when a ticket closes: the newest active one marked so, if any."""
    return Survey.objects.filter(is_active=True, send_on_close=True).order_by("-created_at", "-id").first()


def survey_send_on_close(ticket: Any) -> SurveyInvitation | None:
    """Invite a closed ticket's customer to the close survey (the ``hooks.ON_TICKET_CLOSED`` callback, run after
    the close commits, in the ticket's workspace). Does nothing without such a survey, for a customer without an
    email, for a follow-up ticket a survey itself opened, or when this ticket was already surveyed (closed again
    after a reopen); the unique constraint ``survey_invitation_unique_ticket`` settles a race."""
    survey = close_survey()
    if survey is None or getattr(ticket, "channel", "") == "survey":
        return None
    customer = Customer.objects.filter(pk=ticket.customer_id).first()
    if customer is None or not customer.email:
        return None
    if SurveyInvitation.objects.filter(ticket_id=ticket.pk, source=InvitationSource.TICKET_CLOSED).exists():
        return None
    try:
        with transaction.atomic():
            inv, token = _invite(
                survey=survey, customer=customer, source=InvitationSource.TICKET_CLOSED, ticket=ticket
            )
            audit_record(
                workspace=inv.workspace, actor=None, action="survey.invite", obj=inv,
                after={"survey": survey.pk, "customer": customer.pk, "ticket": ticket.pk},
            )  # fmt: skip
            _mail_after_commit([(inv.pk, token)])
    except IntegrityError:
        return None
    return inv


def survey_send_to_segment(*, actor: Membership, survey_id: Any, params: Mapping[str, Any]) -> int:
    """Invite the customers that the customer list shows for ``params`` (the same filter as the list page: q, tag,
    owner, city, ...) and who have an email and gave email consent, skipping those already holding an unanswered,
    unexpired invitation to this survey. At most ``SEGMENT_MAX`` at once. Returns how many were invited."""
    _require_edit(actor)
    survey = Survey.objects.filter(pk=_int(survey_id)).first()
    if survey is None:
        raise NotFound()
    if not survey.is_active:
        raise Conflict(_("This survey is not active."), code="survey_inactive")
    qs = (
        customer_filter(actor, params)
        .qs.filter(consent_email=True, merged_into__isnull=True)
        .exclude(email="")
    )
    pending = SurveyInvitation.objects.filter(
        survey=survey, answered_at__isnull=True, expires_at__gt=timezone.now()
    ).values("customer_id")
    customers = list(qs.exclude(pk__in=pending).order_by("pk")[: SEGMENT_MAX + 1])
    if len(customers) > SEGMENT_MAX:
        raise ValidationFailed(
            fields={
                "segment": _("This segment has more than %(n)s customers: narrow it.") % {"n": SEGMENT_MAX}
            }
        )
    with transaction.atomic():
        pairs = []
        for c in customers:
            inv, token = _invite(survey=survey, customer=c, source=InvitationSource.SEGMENT)
            pairs.append((inv.pk, token))
        audit_record(
            workspace=actor.workspace, actor=actor.user, action="survey.send_segment", obj=survey,
            after={"invited": len(pairs), "filter": {k: str(v) for k, v in dict(params).items()}},
        )  # fmt: skip
        _mail_after_commit(pairs)
    return len(pairs)


# --- the public answer ----------------------------------------------------------------------------------------------


def invitation_by_token(token: str) -> SurveyInvitation | None:
    """The invitation a link's token belongs to, in any workspace (an identity lookup by a unique hash)."""
    if not token or len(token) > 200:
        return None
    with rls.bypass():
        return (
            SurveyInvitation.all_workspaces.select_related("workspace", "survey", "customer")
            .filter(token_hash=token_hash(token))
            .first()
        )


def check_invitation(inv: SurveyInvitation | None) -> SurveyInvitation:
    """Raise the error the public page shows for a forged, used or expired link."""
    if inv is None:
        raise InvalidLink(_("This survey link is not valid. Please use the link from your email."))
    if inv.answered_at is not None:
        raise AlreadyAnswered(_("This survey has already been answered. Thank you!"))
    if inv.expires_at <= timezone.now():
        raise LinkExpired(_("This survey link has expired."))
    return inv


def _clean_answers(
    questions: list[SurveyQuestion], raw: Mapping[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    errors: dict[str, str] = {}
    out = []
    for q in questions:
        key = f"q{q.pk}"
        value = raw.get(key)
        if q.kind == QuestionKind.MULTI:
            picked = value if isinstance(value, list | tuple) else ([] if value in (None, "") else [value])
            picked = [str(v) for v in picked]
            if any(v not in q.choices for v in picked):
                errors[key] = _("Choose from the options given.")
            elif q.required and not picked:
                errors[key] = _("Please answer this question.")
            elif picked:
                out.append({"question": q, "choices": [c for c in q.choices if c in picked]})
            continue
        if isinstance(value, list | tuple):
            value = value[-1] if value else ""
        text = "" if value is None else str(value).strip()
        if not text:
            if q.required:
                errors[key] = _("Please answer this question.")
            continue
        if q.kind in RANGES:
            low, high = RANGES[QuestionKind(q.kind)]
            n = _int(text)
            if n is None or not low <= n <= high:
                errors[key] = _("Choose a number from %(low)s to %(high)s.") % {"low": low, "high": high}
            else:
                out.append({"question": q, "number": n})
        elif q.kind == QuestionKind.SINGLE:
            if text not in q.choices:
                errors[key] = _("Choose from the options given.")
            else:
                out.append({"question": q, "choices": [text]})
        else:
            if len(text) > TEXT_ANSWER_MAX:
                errors[key] = _("At most %(n)s characters.") % {"n": TEXT_ANSWER_MAX}
            else:
                out.append({"question": q, "text": text})
    return out, errors


def survey_answer(*, token: str, answers: Mapping[str, Any]) -> SurveyResponse:
    """Store the customer's answers to the invitation behind ``token`` (the public page; no user).

    ``answers`` maps ``q<question id>`` to the value (a number, an option, a list of options, text). Refuses a
    forged link (InvalidLink, 404), a used one (AlreadyAnswered, 409; also when two submits race: the invitation
    row is locked and the response is one-to-one), an expired one (LinkExpired, 409), a missing required or bad
    answer (ValidationFailed naming ``q<id>``): in every case nothing is stored. Writes the customer timeline and
    the audit trail; a detractor (NPS 0-6) or low rating (1-2) opens one follow-up ticket in the same transaction.
    """
    inv = check_invitation(invitation_by_token(token))
    with workspace_context(inv.workspace):
        questions = list(SurveyQuestion.objects.filter(survey_id=inv.survey_id).order_by("position", "id"))
        cleaned, errors = _clean_answers(questions, answers)
        if errors:
            raise ValidationFailed(fields=errors)
        try:
            with transaction.atomic():
                inv = check_invitation(SurveyInvitation.objects.select_for_update().filter(pk=inv.pk).first())
                now = timezone.now()
                first = {
                    k: next((a["number"] for a in cleaned if a["question"].kind == k), None) for k in RANGES
                }
                response = SurveyResponse.objects.create(
                    invitation=inv,
                    survey_id=inv.survey_id,
                    customer_id=inv.customer_id,
                    rating=first[QuestionKind.RATING],
                    nps=first[QuestionKind.NPS],
                    agent_id=inv.agent_id,
                    team_id=inv.team_id,
                    ticket_category_id=inv.ticket_category_id,
                    answered_at=now,
                )
                SurveyAnswer.objects.bulk_create(
                    [
                        SurveyAnswer(
                            workspace=inv.workspace,
                            response=response,
                            question=a["question"],
                            number=a.get("number"),
                            choices=a.get("choices", []),
                            text=a.get("text", ""),
                        )
                        for a in cleaned
                    ]
                )
                inv.answered_at = now
                inv.save(update_fields=["answered_at"])
                _timeline(inv, response, cleaned)
                audit_record(
                    workspace=inv.workspace, actor=None, action="survey.answer", obj=response,
                    after={"rating": response.rating, "nps": response.nps, "invitation": inv.pk},
                )  # fmt: skip
                if needs_followup(response):
                    _open_followup(inv, response, cleaned)
        except IntegrityError:
            raise AlreadyAnswered(_("This survey has already been answered. Thank you!")) from None
    return response


def needs_followup(response: SurveyResponse) -> bool:
    return (response.nps is not None and response.nps <= DETRACTOR_MAX) or (
        response.rating is not None and response.rating <= LOW_RATING_MAX
    )


def _summary(cleaned: list[dict[str, Any]]) -> str:
    lines = []
    for a in cleaned:
        q = a["question"]
        if "number" in a:
            value = str(a["number"])
        elif "choices" in a:
            value = ", ".join(a["choices"])
        else:
            value = a["text"]
        lines.append(f"{q.text}: {value}")
    return "\n".join(lines)


def _timeline(inv: SurveyInvitation, response: SurveyResponse, cleaned: list[dict[str, Any]]) -> None:
    parts = []
    if response.rating is not None:
        parts.append(_("rating %(n)s/5") % {"n": response.rating})
    if response.nps is not None:
        parts.append(_("NPS %(n)s/10") % {"n": response.nps})
    subject = _("Survey answered: %(name)s") % {"name": inv.survey.name}
    if parts:
        subject = f"{subject} ({', '.join(parts)})"
    interaction_record(
        workspace=inv.workspace,
        customer_id=inv.customer_id,
        kind=InteractionKind.SURVEY,
        occurred_at=response.answered_at,
        direction="in",
        subject=subject,
        body=_summary(cleaned),
        source_type="service.surveyresponse",
        source_id=str(response.pk),
        data={
            "survey_id": inv.survey_id,
            "rating": response.rating,
            "nps": response.nps,
            "ticket_id": inv.ticket_id,
        },
        external_key=f"survey:{inv.pk}:answered",
    )


def _open_followup(inv: SurveyInvitation, response: SurveyResponse, cleaned: list[dict[str, Any]]) -> None:
    """Close the loop: one follow-up ticket for an unhappy answer (``source_ref`` makes it idempotent)."""
    from guanxi.service.models import TicketChannel, TicketPriority  # noqa: PLC0415
    from guanxi.service.services.tickets import ticket_create  # noqa: PLC0415

    if inv.followup_ticket_id:
        return
    about = _("ticket #%(id)s") % {"id": inv.ticket_id} if inv.ticket_id else inv.survey.name
    ticket = ticket_create(
        actor=None,
        customer=inv.customer_id,
        subject=_("Follow up an unhappy survey answer (%(about)s)") % {"about": about},
        description=_summary(cleaned),
        channel=TicketChannel.SURVEY,
        category=inv.ticket_category_id,
        priority=TicketPriority.HIGH,
        source_ref=f"survey:{inv.pk}",
        team_id=inv.team_id,
    )
    inv.followup_ticket = ticket
    inv.save(update_fields=["followup_ticket"])


def survey_answer_or_error(
    *, token: str, answers: Mapping[str, Any]
) -> tuple[SurveyResponse | None, AppError | None]:
    """``survey_answer`` for the page: the response, or the error to show."""
    try:
        return survey_answer(token=token, answers=answers), None
    except AppError as exc:
        return None, exc

"""Web pages of the satisfaction surveys: list, builder, detail with results and sending, and the public answer page.

The public page (``/s/<token>/``, no sign-in, phone width, Chinese or English) is ``survey_public_view``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods, require_POST

from guanxi.core.context import workspace_context
from guanxi.core.errors import AppError, ValidationFailed
from guanxi.customers.selectors import customer_filter
from guanxi.service import selectors_survey
from guanxi.service.models.surveys import QuestionKind
from guanxi.service.services import surveys as svc
from guanxi.web.decorators import member_required
from guanxi.workspaces.permissions import Module

BLANK_ROWS = 3
PUBLIC_LANGUAGES = ("zh-hans", "en")


@member_required(Module.SERVICE)
def survey_list_view(request: HttpRequest) -> HttpResponse:
    actor = request.membership
    surveys = list(selectors_survey.survey_list(actor=actor)[:200])
    stats = {s.pk: selectors_survey.satisfaction_total(actor=actor, survey_id=s.pk) for s in surveys}
    rows = [{"survey": s, "stats": stats[s.pk]} for s in surveys]
    ctx = {
        "rows": rows,
        "may_edit": svc.may_edit_surveys(actor),
        "total": selectors_survey.satisfaction_total(actor=actor),
    }
    return render(request, "service/survey_list.html", ctx)


def _questions_from_post(request: HttpRequest) -> list[dict[str, Any]]:
    """The builder's rows (q-<n>-kind/text/choices/required/position), ordered by position, blank rows dropped."""
    rows = []
    n = 0
    while f"q-{n}-kind" in request.POST and n < 100:
        text = request.POST.get(f"q-{n}-text", "").strip()
        if text:
            pos = request.POST.get(f"q-{n}-position", "")
            rows.append(
                (
                    int(pos) if pos.strip().isdigit() else 1000 + n,
                    n,
                    {
                        "kind": request.POST.get(f"q-{n}-kind", ""),
                        "text": text,
                        "choices": request.POST.get(f"q-{n}-choices", ""),
                        "required": request.POST.get(f"q-{n}-required") == "1",
                    },
                )
            )
        n += 1
    return [q for _pos, _n, q in sorted(rows, key=lambda r: (r[0], r[1]))]


def _builder_rows(questions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for i, q in enumerate(questions):
        choices = q.get("choices") or []
        rows.append(
            {
                **q,
                "choices_text": "\n".join(choices) if isinstance(choices, list) else choices,
                "position": i + 1,
            }
        )
    for i in range(BLANK_ROWS):
        rows.append(
            {
                "kind": "rating",
                "text": "",
                "choices_text": "",
                "required": True,
                "position": len(questions) + i + 1,
            }
        )
    return rows


def _builder_errors(exc: ValidationFailed, questions: list[dict[str, Any]]) -> dict[str, str]:
    # questions[i].text -> the i-th filled row; shown next to the builder
    return exc.fields


DEFAULT_QUESTIONS = [
    {"kind": "rating", "text": "", "choices": [], "required": True},
    {"kind": "nps", "text": "", "choices": [], "required": True},
    {"kind": "text", "text": "", "choices": [], "required": False},
]


@member_required(Module.SERVICE, "edit")
@require_http_methods(["GET", "POST"])
def survey_create_view(request: HttpRequest) -> HttpResponse:
    values: dict[str, Any] = {"name": "", "intro": "", "send_on_close": False}
    questions: list[dict[str, Any]] = [
        {**DEFAULT_QUESTIONS[0], "text": _("How satisfied are you with how we handled your request?")},
        {**DEFAULT_QUESTIONS[1], "text": _("How likely are you to recommend us to a friend or colleague?")},
        {**DEFAULT_QUESTIONS[2], "text": _("What could we do better?")},
    ]
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = {
            "name": request.POST.get("name", ""),
            "intro": request.POST.get("intro", ""),
            "send_on_close": request.POST.get("send_on_close") == "1",
        }
        questions = _questions_from_post(request)
        try:
            survey = svc.survey_create(actor=request.membership, questions=questions, **values)
        except ValidationFailed as exc:
            errors = exc.fields
        else:
            messages.success(request, _("Survey saved."))
            return redirect("service:survey_detail", survey.pk)
    ctx = {
        "values": values,
        "rows": _builder_rows(questions),
        "errors": errors,
        "kinds": QuestionKind.choices,
        "survey": None,
    }
    return render(request, "service/survey_form.html", ctx, status=422 if errors else 200)


@member_required(Module.SERVICE)
@require_http_methods(["GET", "POST"])
def survey_edit_view(request: HttpRequest, survey_id: int) -> HttpResponse:
    survey = selectors_survey.get_survey_for(request.membership, survey_id)
    if not svc.may_edit_surveys(request.membership):
        return redirect("service:survey_detail", survey.pk)
    values: dict[str, Any] = {
        "name": survey.name,
        "intro": survey.intro,
        "send_on_close": survey.send_on_close,
        "is_active": survey.is_active,
    }
    questions = [
        {"kind": q.kind, "text": q.text, "choices": q.choices, "required": q.required}
        for q in selectors_survey.question_list(survey)
    ]
    answered = survey.responses.exists()
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = {
            "name": request.POST.get("name", ""),
            "intro": request.POST.get("intro", ""),
            "send_on_close": request.POST.get("send_on_close") == "1",
            "is_active": request.POST.get("is_active") == "1",
        }
        changes = dict(values)
        if not answered:
            questions = _questions_from_post(request)
            changes["questions"] = questions
        try:
            svc.survey_update(actor=request.membership, survey_id=survey.pk, **changes)
        except AppError as exc:
            errors = exc.fields or {"form": exc.message}
        else:
            messages.success(request, _("Survey saved."))
            return redirect("service:survey_detail", survey.pk)
    ctx = {
        "values": values,
        "rows": _builder_rows(questions) if not answered else [],
        "questions": questions,
        "answered": answered,
        "errors": errors,
        "kinds": QuestionKind.choices,
        "survey": survey,
    }
    return render(request, "service/survey_form.html", ctx, status=422 if errors else 200)


@member_required(Module.SERVICE)
def survey_detail_view(request: HttpRequest, survey_id: int) -> HttpResponse:
    actor = request.membership
    survey = selectors_survey.get_survey_for(actor, survey_id)
    invitations = list(
        selectors_survey.invitation_list(actor=actor, survey=survey).order_by("-created_at", "-id")[:50]
    )
    ctx = {
        "survey": survey,
        "questions": selectors_survey.question_list(survey),
        "stats": selectors_survey.satisfaction_total(actor=actor, survey_id=survey.pk),
        "trend": selectors_survey.satisfaction_by(
            actor=actor, by="period", period="month", survey_id=survey.pk
        ),
        "invitations": invitations,
        "may_edit": svc.may_edit_surveys(actor),
        "segment": request.GET.get("segment", ""),
    }
    return render(request, "service/survey_detail.html", ctx)


def _segment_params(raw: str) -> dict[str, str]:
    """A customer-list filter as pasted from the list page's address (``city=上海&tag=3``, with or without '?')."""
    raw = raw.strip()
    if "?" in raw:
        raw = raw.split("?", 1)[1]
    return {
        k: v[-1] for k, v in parse_qs(raw, keep_blank_values=False).items() if k not in ("cursor", "limit")
    }


@member_required(Module.SERVICE, "edit")
@require_POST
def survey_send_view(request: HttpRequest, survey_id: int) -> HttpResponse:
    actor = request.membership
    survey = selectors_survey.get_survey_for(actor, survey_id)
    params = _segment_params(request.POST.get("segment", ""))
    if request.POST.get("preview") == "1":
        try:
            n = customer_filter(actor, params).qs.filter(consent_email=True).exclude(email="").count()
        except AppError as exc:
            messages.error(request, "; ".join(exc.fields.values()) or exc.message)
        else:
            messages.info(request, _("%(n)s customers with an email and email consent match.") % {"n": n})
        return redirect(f"{request.path.removesuffix('send/')}?segment={request.POST.get('segment', '')}")
    try:
        n = svc.survey_send_to_segment(actor=actor, survey_id=survey.pk, params=params)
    except AppError as exc:
        messages.error(request, "; ".join(exc.fields.values()) or exc.message)
    else:
        messages.success(request, _("%(n)s invitations are being sent.") % {"n": n})
    return redirect("service:survey_detail", survey.pk)


# --- the public page ------------------------------------------------------------------------------------------------


def _public_language(request: HttpRequest, default: str) -> str:
    lang = request.GET.get("lang") or request.POST.get("lang") or default or "zh-hans"
    return lang if lang in PUBLIC_LANGUAGES else "zh-hans"


@csrf_protect
@require_http_methods(["GET", "POST"])
def survey_public_view(request: HttpRequest, token: str) -> HttpResponse:
    """Answer a survey by the link from the email: no sign-in; one answer per link; a forged, used or expired link
    gets a page saying so (404 / 409) and changes nothing."""
    inv = svc.invitation_by_token(token)
    lang = _public_language(request, inv.language if inv else "zh-hans")
    with translation.override(lang):
        try:
            svc.check_invitation(inv)
        except AppError as exc:
            return render(
                request, "service/survey_public_done.html", {"error": exc, "lang": lang}, status=exc.status
            )
        assert inv is not None
        with workspace_context(inv.workspace):
            return _public_form(request, inv, token, lang)


def _public_form(request: HttpRequest, inv: Any, token: str, lang: str) -> HttpResponse:
    questions = selectors_survey.question_list(inv.survey)
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    if request.method == "POST":
        answers: dict[str, Any] = {}
        for q in questions:
            key = f"q{q.pk}"
            answers[key] = (
                request.POST.getlist(key) if q.kind == QuestionKind.MULTI else request.POST.get(key, "")
            )
        values = answers
        response, exc = svc.survey_answer_or_error(token=token, answers=answers)
        if response is not None:
            return render(request, "service/survey_public_done.html", {"thanks": True, "lang": lang})
        assert exc is not None
        if not isinstance(exc, ValidationFailed):
            return render(
                request,
                "service/survey_public_done.html",
                {"error": exc, "lang": lang},
                status=exc.status,
            )
        errors = exc.fields
    rows = [
        {
            "q": q,
            "key": f"q{q.pk}",
            "value": values.get(f"q{q.pk}", [] if q.kind == QuestionKind.MULTI else ""),
            "error": errors.get(f"q{q.pk}", ""),
            "scale": [str(n) for n in range(*((1, 6) if q.kind == "rating" else (0, 11)))]
            if q.kind in ("rating", "nps")
            else [],
        }
        for q in questions
    ]
    ctx = {"inv": inv, "survey": inv.survey, "rows": rows, "errors": errors, "lang": lang, "token": token}
    return render(request, "service/survey_public.html", ctx, status=422 if errors else 200)

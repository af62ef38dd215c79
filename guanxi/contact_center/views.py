"""The agent console (坐席工作台): presence, offers with the screen pop and a countdown, the contacts held with their
conversation and a reply box, wrap-up and complete. One page; every action posts with htmx and gets the console's
main region back (or a redirect without htmx). A websocket nudge (``guanxi.contact_center.realtime``) makes the page
refetch its offers the moment one is made; a slow poll is the backstop."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from guanxi.contact_center import routing, selectors, services
from guanxi.contact_center.models import ConversationStatus, Presence, TaskStatus
from guanxi.core.errors import AppError, Conflict, NotFound
from guanxi.web.decorators import member_required
from guanxi.workspaces.permissions import Module


def _error_text(exc: AppError) -> str:
    return " ".join(str(v) for v in exc.fields.values()) or exc.message


def _main(
    request: HttpRequest, error: str = "", status: int = 200, focus_task: int | None = None
) -> HttpResponse:
    """The console's main region for htmx, else back to the page (the error as a message)."""
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect("contact_center:console")
    ctx = selectors.console_state(request.membership)
    ctx["error"], ctx["focus_task"] = error, focus_task  # htmx focuses the [autofocus] reply box it swaps in
    return render(request, "contact_center/_main.html", ctx, status=status)


def _act(request: HttpRequest, fn, *args, **kwargs) -> HttpResponse:  # type: ignore[no-untyped-def]
    """Run a service; a refusal (expired offer, closed conversation, bad field) is shown in the console. Missing
    and not-yours stay a 404."""
    try:
        fn(*args, **kwargs)
    except NotFound:
        raise
    except AppError as exc:
        return _main(request, _error_text(exc))
    return _main(request)


@member_required(Module.CONTACT_CENTER)
def console_view(request: HttpRequest) -> HttpResponse:
    routing.require_agent_rights(request.membership)
    ctx = selectors.console_state(request.membership)
    ctx["presences"] = [(Presence.AVAILABLE, _("Available")), (Presence.PAUSED, _("Paused")),
                        (Presence.OFFLINE, _("Offline"))]  # fmt: skip
    return render(request, "contact_center/console.html", ctx)


@member_required(Module.CONTACT_CENTER)
def console_offers_view(request: HttpRequest) -> HttpResponse:
    """The offers region alone: what the console refetches when nudged."""
    routing.require_agent_rights(request.membership)
    return render(request, "contact_center/_offers.html", selectors.console_state(request.membership))


@member_required(Module.CONTACT_CENTER)
def console_messages_view(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conv = services.get_conversation_for(request.membership, conversation_id)
    return render(
        request,
        "contact_center/_messages.html",
        {"conv": conv, "msgs": selectors.conversation_messages(conv)},
    )


@require_POST
@member_required(Module.CONTACT_CENTER)
def presence_view(request: HttpRequest) -> HttpResponse:
    return _act(
        request, routing.agent_set_presence, actor=request.membership,
        presence=request.POST.get("presence", ""), reason=request.POST.get("reason", ""),
    )  # fmt: skip


@require_POST
@member_required(Module.CONTACT_CENTER)
def offer_accept_view(request: HttpRequest, reservation_id: int) -> HttpResponse:
    try:
        task = routing.reservation_accept(actor=request.membership, reservation_id=reservation_id)
    except NotFound:
        raise
    except AppError as exc:
        return _main(request, _error_text(exc))
    return _main(request, focus_task=task.pk)


@require_POST
@member_required(Module.CONTACT_CENTER)
def offer_reject_view(request: HttpRequest, reservation_id: int) -> HttpResponse:
    return _act(request, routing.reservation_reject, actor=request.membership, reservation_id=reservation_id)


@require_POST
@member_required(Module.CONTACT_CENTER)
def task_wrap_up_view(request: HttpRequest, task_id: int) -> HttpResponse:
    return _act(request, routing.task_wrap_up, actor=request.membership, task_id=task_id)


def _complete(actor, task_id: int, disposition: str, notes: str) -> None:  # type: ignore[no-untyped-def]
    from django.db import transaction

    with transaction.atomic():
        task = services.task_for_work(actor, task_id)
        if task.agent_id is None or task.status not in (TaskStatus.ASSIGNED, TaskStatus.WRAPPING):
            raise Conflict(_("This contact is not open."), code="task_not_open")
        conv = task.conversation
        if (
            conv is not None and conv.status == ConversationStatus.OPEN
        ):  # closed while the agent still holds it
            services.conversation_close(
                actor=actor, conversation_id=conv.pk, disposition=disposition, notes=notes
            )
        routing.task_complete(actor=actor, task_id=task_id)


@require_POST
@member_required(Module.CONTACT_CENTER)
def task_complete_view(request: HttpRequest, task_id: int) -> HttpResponse:
    """Complete the contact; its conversation is closed with the disposition and notes, in one transaction."""
    return _act(
        request, _complete, request.membership, task_id,
        request.POST.get("disposition", ""), request.POST.get("notes", ""),
    )  # fmt: skip


@require_POST
@member_required(Module.CONTACT_CENTER)
def reply_view(request: HttpRequest, conversation_id: int) -> HttpResponse:
    return _act(
        request, services.conversation_message_add, actor=request.membership, conversation_id=conversation_id,
        body=request.POST.get("body", ""), kind=request.POST.get("kind", "message") or "message",
    )  # fmt: skip


def _create_and_link(actor, task_id: int, post) -> None:  # type: ignore[no-untyped-def]
    from django.db import transaction

    from guanxi.customers.services import customer_create

    with transaction.atomic():
        services.task_for_work(actor, task_id)  # 404 before anything is created
        fields = {k: post.get(k, "").strip() for k in ("phone", "email")}
        customer = customer_create(
            actor=actor, name=post.get("name", "").strip(), allow_duplicate=post.get("allow_duplicate") == "1",
            **{k: v for k, v in fields.items() if v},
        )  # fmt: skip
        services.task_customer_link(actor=actor, task_id=task_id, customer_id=customer.pk)


@require_POST
@member_required(Module.CONTACT_CENTER)
def create_customer_view(request: HttpRequest, task_id: int) -> HttpResponse:
    """The screen pop's "create customer" form for an unknown contact: create, then link to the contact."""
    return _act(request, _create_and_link, request.membership, task_id, request.POST)


@member_required(Module.CONTACT_CENTER)
def wallboard_view(request: HttpRequest) -> HttpResponse:
    """The live queue board (实时监控墙): the page, or with htmx only the board, which the page polls every second."""
    from guanxi.contact_center.kpis import wallboard

    routing.require_agent_rights(request.membership)
    ctx = {"board": wallboard(), "presences": Presence.choices}
    name = "contact_center/_wallboard.html" if request.htmx else "contact_center/wallboard.html"
    return render(request, name, ctx)

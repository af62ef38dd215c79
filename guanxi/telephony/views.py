"""Telephony pages: call records (通话记录) with their legs, notes and recordings (played in the browser, with
Range requests so the player can seek, and the checksum shown and verified), click-to-call from a customer record,
and outbound lists (呼出) worked by preview dialling.

Permissions come from the services and selectors: supervisors see every call and list, agents their own."""

from __future__ import annotations

import datetime as dt
import mimetypes
import re
from typing import Any

from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from guanxi.contact_center.models import Agent, Queue
from guanxi.core.errors import AppError, NotFound, ValidationFailed
from guanxi.customers.normalize import InvalidValue, normalize_phone
from guanxi.telephony import clicktocall, outbound, prompts, selectors, services
from guanxi.telephony.models import (
    Disposition,
    EntryResult,
    EntryStatus,
    OutboundChannel,
    OutboundListStatus,
)
from guanxi.web.decorators import member_required
from guanxi.workspaces.models import Membership
from guanxi.workspaces.permissions import Module

PAGE_SIZE = 50
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _int(value: Any) -> int | None:
    return int(value) if str(value or "").isdigit() else None


def _error_text(exc: AppError) -> str:
    return " ".join(str(v) for v in exc.fields.values()) or exc.message


def _day(value: str, field: str, errors: dict[str, str]) -> dt.date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        errors[field] = _("A date like 2026-10-01.")
        return None


def _local_midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min), timezone.get_current_timezone())


# --- call records ----------------------------------------------------------------------------------------------------
@member_required(Module.CONTACT_CENTER)
def call_list_view(request: HttpRequest) -> HttpResponse:
    """Call records, newest first, keyset pages on id (``?before=<id>``); filters: q (number fragment or customer
    name), number (whole), disposition, agent, queue, from/to (dates, workspace time zone)."""
    actor = request.membership
    get = request.GET
    errors: dict[str, str] = {}
    date_from = _day(get.get("from", ""), "from", errors)
    date_to = _day(get.get("to", ""), "to", errors)
    number_raw = get.get("number", "").strip()[:40]
    number = ""
    if number_raw:
        try:
            number = normalize_phone(number_raw).e164
        except InvalidValue:
            errors["number"] = _("Enter a phone number like +8613800138000.")
    disposition = get.get("disposition", "")
    if disposition and disposition not in Disposition.values:
        errors["disposition"] = _("Choose a disposition.")
    agent_id, queue_id = _int(get.get("agent")), _int(get.get("queue"))
    q = get.get("q", "").strip()[:100]
    rows: list[Any] = []
    next_before = None
    if not errors:
        qs = selectors.call_list(
            actor=actor, q=q, disposition=disposition, agent_user_id=agent_id, queue_id=queue_id, number=number,
            started_from=_local_midnight(date_from) if date_from else None,
            started_before=_local_midnight(date_to + dt.timedelta(days=1)) if date_to else None,
        )  # fmt: skip
        before = _int(get.get("before"))
        if date_from or date_to:  # newest first by start: index tel_call_ws_started_idx wherever the range is
            qs = selectors.after_call(qs.order_by("-started_at", "-id"), before)
        else:
            qs = qs.filter(pk__lt=before).order_by("-id") if before else qs.order_by("-id")
        rows = list(qs[: PAGE_SIZE + 1])
        next_before = rows[PAGE_SIZE - 1].pk if len(rows) > PAGE_SIZE else None
    else:
        selectors.call_list(actor=actor)  # the permission check still applies
    keep = {k: get.get(k, "") for k in ("q", "number", "disposition", "agent", "queue", "from", "to")}
    query = "&".join(f"{k}={v}" for k, v in keep.items() if v)
    ctx = {
        "calls": rows[:PAGE_SIZE], "next_before": next_before, "errors": errors, "f": keep,
        "query": query, "dispositions": Disposition.choices,
        "agents": list(Agent.objects.select_related("user").order_by("user__username")),
        "queues": list(Queue.objects.order_by("name")),
    }  # fmt: skip
    return render(request, "telephony/call_list.html", ctx, status=422 if errors else 200)


def _audio_url(call: Any) -> str:
    return reverse("telephony:recording", args=[call.pk]) if call.recording else ""


@member_required(Module.CONTACT_CENTER)
@require_http_methods(["GET", "POST"])
def call_detail_view(request: HttpRequest, call_id: int) -> HttpResponse:
    """One call with its legs and timestamps; POST: the notes."""
    actor = request.membership
    call = selectors.get_call_for(actor, call_id)
    error = ""
    if request.method == "POST":
        try:
            services.call_note_set(actor=actor, call_id=call.pk, notes=request.POST.get("notes", ""))
        except ValidationFailed as exc:
            error = _error_text(exc)
        else:
            messages.success(request, _("Notes saved."))
            return redirect("telephony:call_detail", call.pk)
    legs = selectors.call_legs(call)
    recordings = [(leg, _audio_url(leg)) for leg in [call, *legs] if leg.recording]
    ctx = {"call": call, "legs": legs, "error": error, "recordings": recordings}
    return render(request, "telephony/call_detail.html", ctx, status=422 if error else 200)


def _ranged(request: HttpRequest, path: Any, content_type: str) -> HttpResponse:
    """The file, or the one byte range asked for (206, with Content-Range) so an <audio> element can seek; a range
    past the end is a 416."""
    size = path.stat().st_size
    header = request.headers.get("Range", "")
    match = _RANGE.match(header.strip()) if header else None
    if not match or (not match.group(1) and not match.group(2)):
        resp: HttpResponse = FileResponse(path.open("rb"), content_type=content_type)
        resp["Accept-Ranges"] = "bytes"
        resp["Content-Length"] = str(size)
        return resp
    start_s, end_s = match.groups()
    if start_s:
        start = int(start_s)
        end = min(int(end_s), size - 1) if end_s else size - 1
    else:  # a suffix: the last N bytes
        start, end = max(0, size - int(end_s)), size - 1
    if start >= size or start > end:
        resp = HttpResponse(status=416)
        resp["Content-Range"] = f"bytes */{size}"
        return resp
    length = end - start + 1

    def chunks() -> Any:
        with path.open("rb") as fh:
            fh.seek(start)
            left = length
            while left > 0:
                data = fh.read(min(65536, left))
                if not data:
                    break
                left -= len(data)
                yield data

    resp = StreamingHttpResponse(chunks(), status=206, content_type=content_type)
    resp["Content-Range"] = f"bytes {start}-{end}/{size}"
    resp["Content-Length"] = str(length)
    resp["Accept-Ranges"] = "bytes"
    return resp


@member_required(Module.CONTACT_CENTER)
def recording_view(request: HttpRequest, call_id: int) -> HttpResponse:
    """A call's recording, for members who may see the call (the workspace and role checked by the selector);
    Range requests answered. A recording stored elsewhere (not in the media folder) is a 404 here."""
    call = selectors.get_call_for_recording(request.membership, call_id)
    if not call.recording:
        raise Http404
    try:
        path = prompts.resolve(call.recording)
    except ValueError:
        raise Http404 from None
    if not path.is_file():
        raise Http404
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    resp = _ranged(request, path, content_type)
    resp["Cache-Control"] = "private, no-store"
    resp["X-Content-Type-Options"] = "nosniff"
    return resp


@member_required(Module.CONTACT_CENTER)
@require_POST
def recording_verify_view(request: HttpRequest, call_id: int) -> HttpResponse:
    """Recompute the recording's SHA-256 and say whether it matches the one stored when it was recorded."""
    call = selectors.get_call_for_recording(request.membership, call_id)
    back = reverse("telephony:call_detail", args=[call.parent_id or call.pk])
    try:
        path = prompts.resolve(call.recording) if call.recording else None
    except ValueError:
        path = None
    if path is None or not path.is_file():
        messages.error(
            request, _("The recording file is not in this server's media folder; it cannot be checked.")
        )
    elif prompts.sha256_of(path) == call.recording_sha256:
        messages.success(request, _("Checksum verified: the recording is unchanged."))
    else:
        messages.error(request, _("Checksum mismatch: the recording file was changed after it was recorded."))
    return redirect(back)


# --- click-to-call ---------------------------------------------------------------------------------------------------
def _back(request: HttpRequest, default: str) -> str:
    nxt = request.POST.get("next", "")
    if nxt and url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()}):
        return nxt
    return default


@member_required(Module.CONTACT_CENTER, "edit")
@require_POST
def click_to_call_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    """Ring the agent's phone, then the customer's; back to the page with what happened."""
    back = _back(request, reverse("customers:detail", args=[customer_id]))
    try:
        call = clicktocall.click_to_call(
            actor=request.membership, customer_id=customer_id, number=request.POST.get("number", "")
        )
    except NotFound:
        raise
    except AppError as exc:
        if request.htmx:
            return HttpResponse(f'<p class="field-error" role="alert">{escape(_error_text(exc))}</p>')
        messages.error(request, _error_text(exc))
        return redirect(back)
    if request.htmx:  # the card polls the call's state in place
        return render(request, "telephony/_call_status.html", {"call": call})
    messages.success(request, _("Your phone will ring now; pick it up and the customer is called."))
    return redirect(back)


@member_required(Module.CONTACT_CENTER)
def call_status_view(request: HttpRequest, call_id: int) -> HttpResponse:
    """The state of a click-to-call, for the card that polls it while it rings."""
    call = selectors.get_call_for(request.membership, call_id)
    return render(request, "telephony/_call_status.html", {"call": call})


# --- outbound lists --------------------------------------------------------------------------------------------------
def _agents_for_choice() -> list[Membership]:
    users = Agent.objects.values_list("user_id", flat=True)
    return list(
        Membership.objects.filter(user_id__in=users, is_active=True)
        .select_related("user")
        .order_by("user__username")
    )


@member_required(Module.CONTACT_CENTER, "edit")
@require_http_methods(["GET", "POST"])
def outbound_list_view(request: HttpRequest) -> HttpResponse:
    """The lists the actor may see with their progress; supervisors build a new one from a customer-list filter."""
    actor = request.membership
    errors: dict[str, str] = {}
    values: dict[str, Any] = {"channel": OutboundChannel.CALL, "assignee_ids": []}
    if request.method == "POST":
        from guanxi.service.views_survey import _segment_params

        values = {k: request.POST.get(k, "").strip() for k in ("name", "channel", "purpose", "segment")}
        values["assignee_ids"] = request.POST.getlist("assignee_ids")
        try:
            olist = outbound.outbound_list_create(
                actor=actor, name=values["name"], channel=values["channel"], purpose=values["purpose"],
                segment=_segment_params(values["segment"]), assignee_ids=values["assignee_ids"],
            )  # fmt: skip
        except ValidationFailed as exc:
            errors = exc.fields or {"segment": exc.message}
        else:
            messages.success(request, _("List built."))
            return redirect("telephony:outbound_detail", olist.pk)
    lists = list(outbound.outbound_lists(actor)[:200])
    rows = [(o, outbound.progress(actor, o)) for o in lists]
    ctx = {
        "rows": rows, "errors": errors, "values": values, "may_build": outbound.is_supervisor(actor),
        "agents": _agents_for_choice() if outbound.is_supervisor(actor) else [], "channels": OutboundChannel.choices,
    }  # fmt: skip
    return render(request, "telephony/outbound_list.html", ctx, status=422 if errors else 200)


@member_required(Module.CONTACT_CENTER, "edit")
def outbound_detail_view(request: HttpRequest, list_id: int) -> HttpResponse:
    """A list: progress, the actor's preview card (the next customer) and the entries (keyset pages on position)."""
    actor = request.membership
    olist = outbound.get_list_for(actor, list_id)
    status = request.GET.get("status", "")
    qs = outbound.entry_list(actor, olist, status=status)
    after = _int(request.GET.get("after"))
    if after is not None:
        qs = qs.filter(position__gt=after)
    entries = list(qs[: PAGE_SIZE + 1])
    nxt = outbound.next_entry(actor, olist)
    from guanxi.customers.privacy import present_customer

    ctx = {
        "olist": olist, "progress": outbound.progress(actor, olist), "entries": entries[:PAGE_SIZE],
        "next_after": entries[PAGE_SIZE - 1].position if len(entries) > PAGE_SIZE else None,
        "status": status, "statuses": EntryStatus.choices, "next": nxt,
        "shown": present_customer(actor, nxt.customer) if nxt else None,
        "results": [(v, label) for v, label in EntryResult.choices
                    if olist.channel == OutboundChannel.CALL or v in outbound.MESSAGE_RESULTS],
        "is_open": olist.status == OutboundListStatus.OPEN, "may_manage": outbound.is_supervisor(actor),
    }  # fmt: skip
    return render(request, "telephony/outbound_detail.html", ctx)


def _entry_action(request: HttpRequest, list_id: int, fn: Any, **kwargs: Any) -> HttpResponse:
    try:
        fn(actor=request.membership, entry_id=kwargs.pop("entry_id"), **kwargs)
    except NotFound:
        raise
    except AppError as exc:
        messages.error(request, _error_text(exc))
    return redirect("telephony:outbound_detail", list_id)


@member_required(Module.CONTACT_CENTER, "edit")
@require_POST
def outbound_call_view(request: HttpRequest, list_id: int, entry_id: int) -> HttpResponse:
    outbound.get_list_for(request.membership, list_id)
    return _entry_action(request, list_id, outbound.entry_call, entry_id=entry_id)


@member_required(Module.CONTACT_CENTER, "edit")
@require_POST
def outbound_skip_view(request: HttpRequest, list_id: int, entry_id: int) -> HttpResponse:
    outbound.get_list_for(request.membership, list_id)
    return _entry_action(
        request, list_id, outbound.entry_skip, entry_id=entry_id, note=request.POST.get("note", "")
    )


@member_required(Module.CONTACT_CENTER, "edit")
@require_POST
def outbound_result_view(request: HttpRequest, list_id: int, entry_id: int) -> HttpResponse:
    outbound.get_list_for(request.membership, list_id)
    return _entry_action(
        request, list_id, outbound.entry_result, entry_id=entry_id, result=request.POST.get("result", ""),
        note=request.POST.get("note", ""),
    )  # fmt: skip


@member_required(Module.CONTACT_CENTER, "edit")
@require_POST
def outbound_close_view(request: HttpRequest, list_id: int) -> HttpResponse:
    try:
        olist = outbound.outbound_list_close(actor=request.membership, list_id=list_id)
    except NotFound:
        raise
    except AppError as exc:
        messages.error(request, _error_text(exc))
        return redirect("telephony:outbound_detail", list_id)
    messages.success(
        request, _("List closed.") if olist.status == OutboundListStatus.CLOSED else _("List reopened.")
    )
    return redirect("telephony:outbound_detail", list_id)


# --- IVR editor ------------------------------------------------------------------------------------------------------
NODE_FIELDS = ("key", "kind", "prompt", "next", "closed_next", "max_digits", "timeout", "retries", "max_wait",
               "max_record", "workflow_id")  # fmt: skip


@member_required(Module.CONTACT_CENTER, "edit")
@require_http_methods(["GET", "POST"])
def ivr_list_view(request: HttpRequest) -> HttpResponse:
    """The workspace's IVR menus (supervisors), each with its numbers and how many problems it has; a new menu."""
    from guanxi.contact_center import routing
    from guanxi.telephony import ivr
    from guanxi.telephony.models import IvrMenu, PhoneNumber

    actor = request.membership
    routing.require_supervisor(actor)
    error, name = "", ""
    if request.method == "POST":
        name = request.POST.get("name", "")
        try:
            menu = services.ivr_menu_create(actor=actor, name=name)
        except ValidationFailed as exc:
            error = _error_text(exc)
        else:
            messages.success(request, _("Menu created: add its first node."))
            return redirect("telephony:ivr_menu", menu.pk)
    menus = list(IvrMenu.objects.order_by("name"))
    numbers: dict[int, list[str]] = {}
    for n in PhoneNumber.objects.exclude(menu=None).order_by("number"):
        numbers.setdefault(n.menu_id, []).append(n.number)
    rows = [(m, numbers.get(m.pk, []), len(ivr.menu_problems(m))) for m in menus]
    return render(request, "telephony/ivr_list.html", {"rows": rows, "error": error, "name": name},
                  status=422 if error else 200)  # fmt: skip


def _node_form_values(node: Any) -> dict[str, Any]:
    from guanxi.telephony import ivr

    if node is None:
        return {"kind": "menu", "max_digits": 1, "timeout": 5, "retries": 2, "max_wait": 60, "max_record": 60}
    return {
        "key": node.key, "kind": node.kind, "prompt": node.prompt, "next": node.next, "closed_next": node.closed_next,
        "choices": ", ".join(f"{d}={k}" for d, k in sorted((node.choices or {}).items())),
        "hours": ivr.hours_text(node.hours), "holidays": " ".join(node.holidays or []),
        "max_digits": node.max_digits, "timeout": node.timeout, "retries": node.retries, "max_wait": node.max_wait,
        "max_record": node.max_record, "workflow_id": node.workflow_id or "", "audio": node.audio,
    }  # fmt: skip


@member_required(Module.CONTACT_CENTER, "edit")
@require_http_methods(["GET", "POST"])
def ivr_menu_view(request: HttpRequest, menu_id: int) -> HttpResponse:
    """One menu: its tree, its problems (each naming the node), the numbers pointing at it, and the node form
    (``?node=<key>`` edits a node; POST saves one, with an optional audio upload)."""
    from guanxi.contact_center.models import Workflow
    from guanxi.telephony import ivr
    from guanxi.telephony.models import IvrNode, NodeKind, PhoneNumber

    actor = request.membership
    menu = services.get_menu_for(actor, menu_id)
    editing = None
    if request.GET.get("node"):
        editing = IvrNode.objects.filter(menu=menu, key=request.GET["node"]).first()
        if editing is None:
            raise Http404
    values = _node_form_values(editing)
    errors: dict[str, str] = {}
    if request.method == "POST":
        post = request.POST
        values = {k: post.get(k, "").strip() for k in (*NODE_FIELDS, "choices", "hours", "holidays")}
        data: dict[str, Any] = {k: values[k] for k in NODE_FIELDS}
        choices = ivr.parse_choices(values["choices"])
        hours = ivr.parse_hours(values["hours"])
        if isinstance(choices, str):
            errors["choices"] = choices
        if isinstance(hours, str):
            errors["hours"] = hours
        data["choices"] = choices if isinstance(choices, dict) else {}
        data["hours"] = hours if isinstance(hours, dict) else {}
        data["holidays"] = [d for d in re.split(r"[\s,，]+", values["holidays"]) if d]
        upload = request.FILES.get("audio")
        audio = (upload.read(ivr.AUDIO_MAX_BYTES + 1), upload.name) if upload else None
        if not errors:
            try:
                node = ivr.node_save(actor=actor, menu_id=menu.pk, data=data, audio=audio,
                                     is_root=post.get("is_root") == "1")  # fmt: skip
            except ValidationFailed as exc:
                errors = exc.fields or {"key": exc.message}
            else:
                messages.success(request, _("Node %(key)s saved.") % {"key": node.key})
                return redirect(reverse("telephony:ivr_menu", args=[menu.pk]) + f"#node-{node.key}")
    menu.refresh_from_db()
    rows, unreachable = ivr.menu_tree(menu)
    ctx = {
        "menu": menu, "rows": rows, "unreachable": unreachable, "problems": ivr.menu_problems(menu),
        "values": values, "errors": errors, "editing": editing, "kinds": NodeKind.choices,
        "workflows": list(Workflow.objects.order_by("name")),
        "numbers": list(PhoneNumber.objects.filter(menu=menu).order_by("number")),
        "keys": sorted(IvrNode.objects.filter(menu=menu).values_list("key", flat=True)),
    }  # fmt: skip
    return render(request, "telephony/ivr_menu.html", ctx, status=422 if errors else 200)


@member_required(Module.CONTACT_CENTER, "edit")
@require_http_methods(["GET", "POST"])
def ivr_node_delete_view(request: HttpRequest, menu_id: int, key: str) -> HttpResponse:
    """Confirm, then delete a node; the confirmation names the nodes that point at it."""
    from guanxi.telephony import ivr
    from guanxi.telephony.models import IvrNode

    actor = request.membership
    menu = services.get_menu_for(actor, menu_id)
    node = IvrNode.objects.filter(menu=menu, key=key).first()
    if node is None:
        raise Http404
    back = reverse("telephony:ivr_menu", args=[menu.pk])
    if request.method == "POST":
        referrers = ivr.node_delete(actor=actor, menu_id=menu.pk, key=key)
        msg = _("Node %(key)s deleted.") % {"key": key}
        if referrers:
            msg += " " + _("Fix the nodes that pointed at it: %(keys)s.") % {"keys": ", ".join(referrers)}
        messages.success(request, msg)
        return redirect(back)
    referrers = [n.key for n in ivr.node_referrers(menu, key)]
    body = _("Delete node %(key)s (%(kind)s) from menu %(menu)s?") % {
        "key": key, "kind": node.get_kind_display(), "menu": menu.name}  # fmt: skip
    if referrers:
        body += " " + _("These nodes point at it and will need a new target: %(keys)s.") % {
            "keys": ", ".join(referrers)
        }
    if menu.root_id == node.pk:
        body += " " + _("It is the menu's first node: callers will hear nothing until you choose another.")
    return render(request, "web/confirm.html", {"title": _("Delete node %(key)s") % {"key": key}, "body": body,
                                                "confirm_label": _("Delete node"), "cancel_url": back})  # fmt: skip


@member_required(Module.CONTACT_CENTER, "edit")
@require_POST
def ivr_number_view(request: HttpRequest, menu_id: int) -> HttpResponse:
    """Point a number at this menu (refused while the menu has problems)."""
    from guanxi.telephony import ivr

    try:
        found = ivr.number_assign(actor=request.membership, menu_id=menu_id, number=request.POST.get("number", ""),
                                  label=request.POST.get("label", ""))  # fmt: skip
    except NotFound:
        raise
    except AppError as exc:
        messages.error(request, _error_text(exc))
    else:
        messages.success(request, _("%(number)s now answers with this menu.") % {"number": found.number})
    return redirect("telephony:ivr_menu", menu_id)


@member_required(Module.CONTACT_CENTER, "edit")
def ivr_node_audio_view(request: HttpRequest, menu_id: int, key: str) -> HttpResponse:
    """What a caller hears at a node: its uploaded audio, else its text spoken by espeak-ng (made on first use);
    supervisors only, Range requests answered. 404 when the node has neither, or the speech tools are missing."""
    from guanxi.telephony.models import IvrNode

    menu = services.get_menu_for(request.membership, menu_id)
    node = IvrNode.objects.filter(menu=menu, key=key).first()
    if node is None:
        raise Http404
    rel = node.audio or (prompts.prompt_for_text(node.prompt) if node.prompt else "")
    if not rel:
        raise Http404
    try:
        path = prompts.resolve(rel)
    except ValueError:
        raise Http404 from None
    if not path.is_file():
        raise Http404
    resp = _ranged(request, path, "audio/wav")
    resp["Cache-Control"] = "private, no-store"
    return resp

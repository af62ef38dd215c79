"""The public ticket web form (/f/tickets/<token>/): a customer describes a problem without signing in."""

from __future__ import annotations

import uuid

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_http_methods

from guanxi.core.context import workspace_context
from guanxi.core.errors import ValidationFailed
from guanxi.service import webform
from guanxi.service.services.intake import ticket_from_contact

FIELDS = ("name", "email", "phone", "subject", "description")


@xframe_options_exempt  # may be embedded on the workspace's own site
@require_http_methods(["GET", "POST"])
def ticket_form_view(request: HttpRequest, token: str) -> HttpResponse:
    ws = webform.workspace_for_token(token)
    if ws is None:
        return render(request, "service/public_gone.html", status=404)
    ctx = {"workspace": ws, "values": {}, "errors": {}, "honeypot": webform.HONEYPOT}
    if request.method == "POST":
        if request.POST.get(webform.HONEYPOT):
            return render(request, "service/public_thanks.html", ctx)  # a bot: answer as if it worked
        values = {k: request.POST.get(k, "").strip() for k in FIELDS}
        ctx["values"] = values
        if not webform.stamp_ok(ws, request.POST.get("ts", "")):
            ctx["errors"] = {"form": _("Please check your details and send the form again.")}
        elif webform.rate_limited(ws, request.META.get("REMOTE_ADDR", "") or "unknown"):
            ctx["errors"] = {"form": _("Too many submissions from your network. Please try again later.")}
            ctx["stamp"] = webform.issue_stamp(ws)
            return render(request, "service/public_form.html", ctx, status=429)
        else:
            with workspace_context(ws):
                try:
                    ticket = ticket_from_contact(
                        **values, source_ref=f"form:{request.POST.get('nonce', '') or uuid.uuid4().hex}"[:200]
                    )
                except ValidationFailed as exc:
                    ctx["errors"] = exc.fields
                else:
                    ctx["ticket"] = ticket
                    return render(request, "service/public_thanks.html", ctx)
        ctx["stamp"] = webform.issue_stamp(ws)
        ctx["nonce"] = request.POST.get("nonce", "")[:64]
        return render(request, "service/public_form.html", ctx, status=422)
    ctx["stamp"] = webform.issue_stamp(ws)
    ctx["nonce"] = uuid.uuid4().hex
    return render(request, "service/public_form.html", ctx)

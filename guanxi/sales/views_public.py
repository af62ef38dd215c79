"""The public lead-capture form (/f/leads/<token>/): no sign-in, embeddable in an iframe, spam-protected."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from guanxi.core.context import workspace_context
from guanxi.core.errors import ValidationFailed
from guanxi.sales import webform
from guanxi.sales.selectors import lead_form_by_token
from guanxi.sales.services import lead_capture

FIELDS = ("name", "company", "phone", "email", "city", "notes")


@csrf_exempt  # posted from other sites and from an iframe without our session; guarded by webform's checks
@xframe_options_exempt  # meant to be embedded
@require_http_methods(["GET", "POST"])
def lead_form_view(request: HttpRequest, token: str) -> HttpResponse:
    form = lead_form_by_token(token)
    if form is None:
        return render(request, "sales/public_form_gone.html", status=404)
    ctx = {"form": form, "token": token, "values": {}, "errors": {}, "honeypot": webform.HONEYPOT}
    if request.method == "POST":
        if not webform.origin_ok(request, form):
            return render(request, "sales/public_form_gone.html", {"refused": True}, status=403)
        if request.POST.get(webform.HONEYPOT):
            # a bot filled the hidden field: answer as if it worked, store nothing
            return render(request, "sales/public_form_thanks.html", ctx)
        values = {k: request.POST.get(k, "").strip() for k in FIELDS}
        ctx["values"] = values
        if not webform.stamp_ok(form, request.POST.get("ts", "")):
            ctx["errors"] = {"form": _("Please check your details and send the form again.")}
        elif webform.rate_limited(form, webform.client_ip(request)):
            ctx["errors"] = {"form": _("Too many submissions from your network. Please try again later.")}
            ctx["stamp"] = webform.issue_stamp(form)
            return render(request, "sales/public_form.html", ctx, status=429)
        else:
            with workspace_context(form.workspace):
                try:
                    lead_capture(form=form, fields=values)
                except ValidationFailed as exc:
                    ctx["errors"] = exc.fields
                else:
                    return render(request, "sales/public_form_thanks.html", ctx)
        ctx["stamp"] = webform.issue_stamp(form)
        return render(request, "sales/public_form.html", ctx, status=422)
    ctx["stamp"] = webform.issue_stamp(form)
    return render(request, "sales/public_form.html", ctx)

"""Web chat pages: the supervisor's widget list (create a widget: queue, skills, allowed origins; copy its snippet;
switch it off) and the public widget script every embedding page loads."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from guanxi.contact_center import routing
from guanxi.contact_center.models import Queue, Skill
from guanxi.core.errors import ValidationFailed
from guanxi.web.decorators import member_required
from guanxi.webchat import services
from guanxi.webchat.models import ChatWidget
from guanxi.workspaces.permissions import Module

SCRIPT = Path(__file__).parent / "static" / "webchat" / "widget.js"


@require_GET
def widget_script_view(request: HttpRequest) -> HttpResponse:
    """The widget script (no sign-in; any site may load it; it finds its server from its own src)."""
    resp = HttpResponse(SCRIPT.read_bytes(), content_type="application/javascript; charset=utf-8")
    resp["Cache-Control"] = "public, max-age=300"
    resp["Access-Control-Allow-Origin"] = "*"
    return resp


def _skills_from(post) -> list[dict]:  # type: ignore[no-untyped-def]
    """The form's skill rows: skill_<i> (name) and level_<i>."""
    out = []
    for name in post.getlist("skill"):
        if name:
            out.append({"skill": name, "min_level": post.get(f"level_{name}", "1") or "1"})
    return out


@require_http_methods(["GET", "POST"])
@member_required(Module.CONTACT_CENTER, "edit")
def widgets_view(request: HttpRequest) -> HttpResponse:
    routing.require_supervisor(request.membership)
    errors: dict[str, str] = {}
    values: dict = {}
    status = 200
    if request.method == "POST":
        values = {
            "name": request.POST.get("name", ""),
            "queue_id": request.POST.get("queue_id", ""),
            "language": request.POST.get("language", ""),
            "allowed_origins": request.POST.get("allowed_origins", ""),
            "skills": request.POST.getlist("skill"),
        }
        try:
            widget = services.widget_create(
                actor=request.membership, name=values["name"], queue_id=values["queue_id"],
                skills=_skills_from(request.POST), language=values["language"],
                allowed_origins=values["allowed_origins"].split(),
            )  # fmt: skip
        except ValidationFailed as exc:
            errors, status = exc.fields, 422
        else:
            messages.success(
                request, _("Widget %(w)s created. Paste its snippet into your website.") % {"w": widget.name}
            )
            return redirect("webchat:widgets")
    base = settings.GUANXI_BASE_URL or request.build_absolute_uri("/")
    widgets = [
        (w, services.snippet(w, base)) for w in ChatWidget.objects.select_related("queue").order_by("name")
    ]
    ctx = {"widgets": widgets, "queues": Queue.objects.order_by("name"), "skills": Skill.objects.order_by("name"),
           "errors": errors, "values": values}  # fmt: skip
    return render(request, "webchat/widgets.html", ctx, status=status)


@require_POST
@member_required(Module.CONTACT_CENTER, "edit")
def widget_active_view(request: HttpRequest, widget_id: int) -> HttpResponse:
    w = services.widget_set_active(
        actor=request.membership, widget_id=widget_id, active=request.POST.get("active") == "1"
    )
    messages.success(request, _("Widget %(w)s switched on.") % {"w": w.name} if w.is_active
                     else _("Widget %(w)s switched off.") % {"w": w.name})  # fmt: skip
    return redirect("webchat:widgets")

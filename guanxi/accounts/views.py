"""Sign-in, sign-out and hosted sign-up."""

from __future__ import annotations

from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.views.decorators.http import require_POST

from guanxi.core.errors import ValidationFailed
from guanxi.core.middleware import SESSION_WORKSPACE_KEY
from guanxi.workspaces.services import workspace_signup


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("accounts:login")


def signup_view(request: HttpRequest) -> HttpResponse:
    """Company name + user name + password -> a new workspace, its owner signed in."""
    if request.user.is_authenticated and request.method == "GET":
        return redirect("web:home")
    values = {"company_name": "", "username": "", "email": ""}
    errors: dict[str, str] = {}
    if request.method == "POST":
        values = {k: request.POST.get(k, "").strip() for k in values}
        try:
            user, ws, _membership = workspace_signup(
                company_name=values["company_name"],
                username=values["username"],
                email=values["email"],
                password=request.POST.get("password", ""),
                language=get_language() or "zh-hans",
            )
        except ValidationFailed as exc:
            errors = exc.fields
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            request.session[SESSION_WORKSPACE_KEY] = ws.pk
            return redirect("web:home")
    status = 422 if errors else 200
    return render(request, "accounts/signup.html", {"values": values, "errors": errors}, status=status)

from __future__ import annotations

from django.http import HttpRequest


def workspace(request: HttpRequest) -> dict:
    return {
        "workspace": getattr(request, "workspace", None),
        "membership": getattr(request, "membership", None),
    }

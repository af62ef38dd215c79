"""Errors a service raises for the user. The web UI shows them; the API turns them into one JSON shape:

{"code": "validation_error", "message": "…", "fields": [{"field": "name", "message": "…"}]}
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _


class AppError(Exception):
    code = "error"
    status = 400
    default_message = _("The request could not be completed.")

    def __init__(
        self, message: str | None = None, *, fields: dict[str, str] | None = None, code: str | None = None
    ):
        self.message = str(message or self.default_message)
        self.fields = {k: str(v) for k, v in (fields or {}).items()}
        if code:
            self.code = code
        super().__init__(self.message)

    def as_dict(self) -> dict:
        return {
            "code": self.code,
            "message": self.message,
            "fields": [{"field": k, "message": v} for k, v in self.fields.items()],
        }


class ValidationFailed(AppError):
    code = "validation_error"
    status = 422
    default_message = _("Some fields are not valid.")


class NotFound(AppError):
    """Missing and not-yours look the same (architecture rule 1)."""

    code = "not_found"
    status = 404
    default_message = _("Not found.")


class Forbidden(AppError):
    code = "forbidden"
    status = 403
    default_message = _("You do not have permission to do this.")


class Conflict(AppError):
    code = "conflict"
    status = 409
    default_message = _("This conflicts with existing data.")


class RateLimited(AppError):
    code = "rate_limited"
    status = 429
    default_message = _("Too many requests. Please wait a moment and try again.")

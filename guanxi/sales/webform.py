"""Spam protection of the public lead-capture form: signed timestamp (minimum fill time), honeypot, origin check,
per-IP rate limit. Pure helpers; the public view in views_public.py strings them together."""

from __future__ import annotations

import hashlib
import time
from urllib.parse import urlsplit

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.http import HttpRequest

from guanxi.sales.models import LeadCaptureForm

MIN_FILL_SECONDS = 3  # a person needs longer than this to fill in the form; a bot posting at once does not
MAX_FORM_AGE = 24 * 3600
RATE_LIMIT = 5  # accepted posts per IP and form in RATE_WINDOW
RATE_WINDOW = 600
HONEYPOT = "website"  # hidden from people (CSS + aria-hidden); bots fill it
_SALT = "guanxi.sales.leadform"


def issue_stamp(form: LeadCaptureForm, now: float | None = None) -> str:
    """A signed (form, issue time) stamp for the form page's hidden field."""
    return signing.dumps([form.pk, int(now if now is not None else time.time())], salt=_SALT, compress=True)


def stamp_ok(form: LeadCaptureForm, stamp: str, now: float | None = None) -> bool:
    """The stamp is ours, for this form, at least MIN_FILL_SECONDS and at most MAX_FORM_AGE old."""
    now = now if now is not None else time.time()
    try:
        form_id, issued = signing.loads(stamp or "", salt=_SALT)
    except (signing.BadSignature, ValueError, TypeError):
        return False
    age = now - int(issued)
    return form_id == form.pk and MIN_FILL_SECONDS <= age <= MAX_FORM_AGE


def _origin(value: str) -> str:
    parts = urlsplit(value or "")
    if not parts.scheme or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}".lower()


def origin_ok(request: HttpRequest, form: LeadCaptureForm) -> bool:
    """The post comes from our own pages (the iframe) or from a site the form allows.

    Uses the Origin header, or the Referer's origin when a browser sends no Origin; a post with neither is refused
    (every browser sends one of them on a cross-site or same-site form post).
    """
    origin = _origin(request.headers.get("Origin", "")) or _origin(request.headers.get("Referer", ""))
    if not origin:
        return False
    own = {_origin(settings.GUANXI_BASE_URL), _origin(request.build_absolute_uri("/"))}
    return origin in own or origin in {o.lower() for o in (form.allowed_origins or [])}


def client_ip(request: HttpRequest) -> str:
    """REMOTE_ADDR: behind a proxy, the deployment sets it from the trusted proxy header (docs/operations.md)."""
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def rate_limited(form: LeadCaptureForm, ip: str) -> bool:
    """Count one post for (form, ip) in the current window; True once over the limit. Atomic add+incr."""
    digest = hashlib.sha256(f"{form.pk}:{ip}".encode()).hexdigest()[:32]
    window = int(time.time() // RATE_WINDOW)
    key = f"guanxi:leadform:{digest}:{window}"
    cache.add(key, 0, timeout=RATE_WINDOW * 2)
    try:
        count = cache.incr(key)
    except ValueError:
        cache.add(key, 1, timeout=RATE_WINDOW * 2)
        count = 1
    return count > RATE_LIMIT

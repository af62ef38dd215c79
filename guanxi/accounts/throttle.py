"""Counting failed attempts (sign-in, two-factor codes, reset requests) in the Django cache.

A *bucket* ("login-user", "login-ip", "totp", ...) plus a key (a user name, an IP address, a user id) counts
failures in a fixed window; reaching the limit sets a lock that lasts ``GUANXI_LOGIN_LOCKOUT_SECONDS`` and
remembers when it ends, so the page can say how long to wait. Only ``add``/``incr``/``get``/``set``/``delete``
are used, so it works the same on the in-process cache (embedded) and on Redis (scaled, shared by all web
processes).
"""

from __future__ import annotations

import hashlib
import math
import time

from django.conf import settings
from django.core.cache import cache

WINDOW_SECONDS = 15 * 60


def _key(kind: str, bucket: str, ident: str) -> str:
    # Hashed: user names may hold characters that memcached-style keys refuse, and the cache never sees them.
    digest = hashlib.sha256(ident.strip().lower().encode("utf-8")).hexdigest()[:40]
    return f"guanxi:throttle:{kind}:{bucket}:{digest}"


def lockout_seconds() -> int:
    return int(settings.GUANXI_LOGIN_LOCKOUT_SECONDS)


def locked_for(bucket: str, ident: str) -> int:
    """Seconds until the lock on (bucket, ident) ends; 0 when not locked."""
    if not ident:
        return 0
    until = cache.get(_key("lock", bucket, ident))
    if until is None:
        return 0
    return max(1, math.ceil(float(until) - time.time()))


def record_failure(bucket: str, ident: str, *, limit: int) -> int:
    """Count one failure; lock the key when it reaches ``limit``. Returns the seconds locked (0 if not)."""
    if not ident:
        return 0
    key = _key("fail", bucket, ident)
    cache.add(key, 0, WINDOW_SECONDS)
    try:
        count = cache.incr(key)
    except ValueError:  # the window expired between add and incr: start a new one
        cache.set(key, 1, WINDOW_SECONDS)
        count = 1
    if count >= limit:
        seconds = lockout_seconds()
        cache.set(_key("lock", bucket, ident), time.time() + seconds, seconds)
        cache.delete(key)
        return seconds
    return 0


def reset(bucket: str, ident: str) -> None:
    """Forget the failures (and any lock) of (bucket, ident), e.g. after a successful sign-in."""
    if ident:
        cache.delete_many([_key("fail", bucket, ident), _key("lock", bucket, ident)])


def wait_text(seconds: int) -> str:
    """'3 minutes' / '45 seconds', translated, for the lockout message."""
    from django.utils.translation import ngettext

    if seconds >= 60:
        minutes = math.ceil(seconds / 60)
        return ngettext("%(n)d minute", "%(n)d minutes", minutes) % {"n": minutes}
    return ngettext("%(n)d second", "%(n)d seconds", seconds) % {"n": seconds}

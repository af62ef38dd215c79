"""Background jobs of the platform itself (Huey; run by `guanxi worker`, or in threads in embedded mode)."""

from __future__ import annotations

import os

from django.core.cache import cache
from huey.contrib.djhuey import task

ECHO_KEY = "guanxi:worker-echo:{token}"


@task()
def worker_echo(token: str) -> int:
    """Prove a worker is consuming: store the worker's process id under the token in the shared cache.

    ``guanxi check --jobs`` uses it to check, end to end, that jobs enqueued here run somewhere.
    """
    pid = os.getpid()
    cache.set(ECHO_KEY.format(token=token), pid, 300)
    return pid

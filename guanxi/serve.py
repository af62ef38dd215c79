"""Running the server.

Embedded mode: one uvicorn (ASGI) process serves the UI, the API and websockets, and runs the background jobs in
threads. Scaled mode is documented in docs/operations.md (WSGI web processes, an ASGI real-time process, workers).
"""

from __future__ import annotations

import logging

from django.conf import settings

log = logging.getLogger("guanxi.serve")


def _start_jobs():  # type: ignore[no-untyped-def]
    from huey.contrib.djhuey import HUEY

    consumer = HUEY.create_consumer(workers=settings.HUEY["consumer"]["workers"], worker_type="thread")
    consumer.start()
    return consumer


def serve(*, host: str, port: int, jobs: bool = True) -> int:
    import uvicorn

    consumer = _start_jobs() if jobs and not settings.GUANXI_SCALED else None
    try:
        uvicorn.run("guanxi.asgi:application", host=host, port=port, log_level="warning", lifespan="off")
    finally:
        if consumer is not None:
            consumer.stop(graceful=True)
    return 0

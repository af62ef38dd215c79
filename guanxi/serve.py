"""Running the server.

Embedded mode (no GUANXI_DATABASE_URL): one uvicorn (ASGI) process serves the UI, the API and the websocket routes,
and runs the background jobs in threads.

Scaled mode (GUANXI_DATABASE_URL=postgres://…, GUANXI_REDIS_URL=redis://…): the HTTP app runs under granian in WSGI
mode with N worker processes (Django under ASGI halved HTTP throughput when measured, see shared architecture), and
the websocket routes run under uvicorn (ASGI) on their own port — either as a child of ``guanxi serve
--realtime-port P`` or as a separate ``guanxi serve-realtime``. Jobs run in ``guanxi worker`` processes.
docs/operations.md shows how to put several of each behind a load balancer.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys

from django.conf import settings

log = logging.getLogger("guanxi.serve")


def _start_jobs():  # type: ignore[no-untyped-def]
    from django.utils.module_loading import autodiscover_modules
    from huey.contrib.djhuey import HUEY

    autodiscover_modules("tasks")  # register every app's jobs (and periodic jobs), as run_huey does

    consumer = HUEY.create_consumer(workers=settings.HUEY["consumer"]["workers"], worker_type="thread")
    consumer.start()
    return consumer


def serve_embedded(*, host: str, port: int, jobs: bool = True) -> int:
    """One process: uvicorn with the whole ASGI app, and the job consumer in threads."""
    import uvicorn

    consumer = _start_jobs() if jobs else None
    try:
        uvicorn.run("guanxi.asgi:application", host=host, port=port, log_level="warning", lifespan="off")
    finally:
        if consumer is not None:
            consumer.stop(graceful=True)
    return 0


def serve_realtime(*, host: str, port: int) -> int:
    """The real-time (websocket) routes under uvicorn. Stateless: run as many as needed behind the balancer."""
    import uvicorn

    log.info("real-time (ASGI, uvicorn) on %s:%s", host, port)
    uvicorn.run("guanxi.asgi:application", host=host, port=port, log_level="warning", lifespan="off")
    return 0


def serve_http(*, host: str, port: int, workers: int, threads: int) -> int:
    """The HTTP app under granian (WSGI): ``workers`` processes with ``threads`` blocking threads each."""
    from granian import Granian
    from granian.constants import Interfaces
    from granian.log import LogLevels

    log.info("HTTP (WSGI, granian) on %s:%s: %s workers x %s threads", host, port, workers, threads)
    Granian(
        "guanxi.wsgi:application",
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=workers,
        blocking_threads=threads,
        log_level=LogLevels.warning,
        respawn_failed_workers=True,
    ).serve()
    return 0


def serve_scaled(*, host: str, port: int, workers: int, threads: int, realtime_port: int | None) -> int:
    child: subprocess.Popen[bytes] | None = None
    if realtime_port:
        child = subprocess.Popen(  # noqa: S603 - our own interpreter and module, fixed arguments
            [sys.executable, "-m", "guanxi", "serve-realtime", "--host", host, "--port", str(realtime_port)],
            env=os.environ.copy(),
        )
    try:
        return serve_http(host=host, port=port, workers=workers, threads=threads)
    finally:
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()


def serve(
    *,
    host: str,
    port: int,
    jobs: bool = True,
    workers: int | None = None,
    threads: int | None = None,
    realtime_port: int | None = None,
) -> int:
    if not settings.GUANXI_SCALED:
        return serve_embedded(host=host, port=port, jobs=jobs)
    cfg = settings.CONFIG
    return serve_scaled(
        host=host,
        port=port,
        workers=workers or cfg.web_workers,
        threads=threads or cfg.web_threads,
        realtime_port=realtime_port if realtime_port is not None else cfg.realtime_port,
    )

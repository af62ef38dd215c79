"""What runs inside an import's worker processes (see ``services._prepared_chunks``).

A spawned worker imports this module before Django is set up, so it imports nothing from the models at the top:
``init`` loads Django first, then the rest.
"""

from __future__ import annotations

import os
import pickle
import threading
import time

_preparer = None  # the job's RowPreparer, once init has run


def _exit_with_parent(parent: int) -> None:
    """A worker whose importing process was killed (SIGKILL, out of memory) would wait for work forever: end it."""
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)


def init(settings_module: str, language: str, preparer: bytes) -> None:
    """Load Django (no database connection is ever opened here), the job's language for the messages of rejected
    rows, and the job's preparer (unpickled once the models are loaded)."""
    global _preparer
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module)
    import django

    django.setup()
    from django.utils import translation

    translation.activate(language)
    _preparer = pickle.loads(preparer)  # noqa: S301 - from the parent process, never from outside


def prepare(items: list[tuple[int, list[str]]]) -> list[tuple]:
    """``chunk.prepare_chunk`` without the raw values (the parent has them; less to send back)."""
    from guanxi.customers.importing.chunk import prepare_chunk

    return [(row_number, p, errors) for row_number, _v, p, errors in prepare_chunk(items, _preparer)]

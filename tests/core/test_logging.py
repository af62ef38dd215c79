"""The console log handler follows sys.stderr: a swapped and closed stderr does not break later log lines."""

from __future__ import annotations

import io
import logging
import sys

from guanxi.core.logging import StderrHandler


def test_the_handler_writes_to_the_current_stderr_after_the_old_one_is_closed(monkeypatch):
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    handler = StderrHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    log = logging.getLogger("guanxi.test.stderr")
    log.addHandler(handler)
    log.propagate = False
    errors: list[str] = []
    monkeypatch.setattr(handler, "handleError", lambda record: errors.append(record.getMessage()))
    try:
        log.warning("one")
        first.close()  # a test's captured stderr (or a daemon's old one) goes away
        monkeypatch.setattr(sys, "stderr", second)
        log.warning("two")
    finally:
        log.removeHandler(handler)
        log.propagate = True
    assert errors == []
    assert second.getvalue() == "two\n"

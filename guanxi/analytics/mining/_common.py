"""Helpers shared by the mining algorithms: input checks that turn bad input into a message, not an exception."""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl


class MiningInputError(ValueError):
    """The input frame cannot be used at all (a required column is missing); the message names what is missing."""


def require_columns(frame: pl.DataFrame, columns: Iterable[str], *, what: str) -> None:
    """Raise MiningInputError naming the missing columns of ``frame`` (the one error that cannot become a result)."""
    if not isinstance(frame, pl.DataFrame):
        raise MiningInputError(f"{what}: expected a polars DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise MiningInputError(
            f"{what}: missing column(s) {', '.join(missing)}; has {', '.join(frame.columns)}"
        )


def gettext_noop(text: str) -> str:
    """Marks a message template for translation (``makemessages`` extracts this name) without importing Django,
    so the mining modules stay framework-free; the analysis step translates ``Message``s when it stores them."""
    return text


class Message(str):
    """A message for the run's report: its value is the English text, and it keeps its template and values so the
    analysis step can store it in Chinese too (``guanxi.analytics.services.runs.message_entry``)."""

    template: str
    values: dict

    def __new__(cls, template: str, **values: object) -> Message:
        obj = super().__new__(cls, template % values if values else template)
        obj.template = template
        obj.values = values
        return obj


def msg(template: str, **values: object) -> Message:
    """``Message(template, **values)``; format numbers before passing them (``f"{n:,}"``)."""
    return Message(template, **values)


_MISSING = {
    "basket lines": gettext_noop("%(n)s basket lines with a missing value excluded"),
    "events": gettext_noop("%(n)s events with a missing value excluded"),
    "orders": gettext_noop("%(n)s orders with a missing value excluded"),
}


def drop_nulls(frame: pl.DataFrame, columns: list[str], messages: list[str], *, what: str) -> pl.DataFrame:
    """Drop rows with a null in ``columns``, noting how many in ``messages``."""
    before = frame.height
    out = frame.drop_nulls(columns)
    if out.height < before:
        template = _MISSING.get(what, gettext_noop("%(n)s rows with a missing value excluded"))
        messages.append(msg(template, n=f"{before - out.height:,}"))
    return out

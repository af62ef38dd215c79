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


def drop_nulls(frame: pl.DataFrame, columns: list[str], messages: list[str], *, what: str) -> pl.DataFrame:
    """Drop rows with a null in ``columns``, noting how many in ``messages``."""
    before = frame.height
    out = frame.drop_nulls(columns)
    if out.height < before:
        messages.append(f"{before - out.height:,} {what} with a missing value excluded")
    return out

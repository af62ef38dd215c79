"""Fixtures for API tests: API keys for the shared world's members and a JSON-speaking client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import cache

from guanxi.workspaces.apikeys import apikey_create
from guanxi.workspaces.models import Membership
from tests.api.support import Api


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Rate-limit counters live in the cache, which outlives each test's database rollback."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def make_key(world) -> Callable[..., tuple[Any, str]]:
    def make(m: Membership, scopes: tuple[str, ...] = ("read", "write"), **kw: Any):
        return apikey_create(actor=m, name=kw.pop("name", "test"), scopes=list(scopes), **kw)

    return make


@pytest.fixture
def api_for(make_key) -> Callable[..., Api]:
    """``api_for(world.sam)`` -> an Api client authenticated with a new read+write key of sam."""

    def make(m: Membership, scopes: tuple[str, ...] = ("read", "write"), lang: str = "en") -> Api:
        _key, raw = make_key(m, scopes)
        return Api(raw, lang=lang)

    return make

"""Helpers for the customer-core tests: run code inside workspace A, make a marketing member and custom fields."""

from __future__ import annotations

import pytest

from guanxi.core.context import workspace_context
from guanxi.workspaces.models import Membership, User
from guanxi.workspaces.permissions import Role

ID_CARD = "11010519491231002X"  # a valid 18-character resident ID (check character X)
BANK_CARD = "6222021234567890128"  # passes the Luhn check


@pytest.fixture
def in_a(world):
    with workspace_context(world.ws_a):
        yield world


@pytest.fixture
def maya(world) -> Membership:
    """A marketing member of workspace A: may view customers, never sees personal data in full."""
    with workspace_context(world.ws_a):
        user = User.objects.create_user(username="maya", password="x-Long-pass-1", email="maya@example.com")
        return Membership.objects.create(user=user, role=Role.MARKETING)


@pytest.fixture
def anna(world) -> Membership:
    """An analyst of workspace A."""
    with workspace_context(world.ws_a):
        user = User.objects.create_user(username="anna", password="x-Long-pass-1", email="anna@example.com")
        return Membership.objects.create(user=user, role=Role.ANALYST)

"""Query counts of the shell's pages (the customer pages' own tests live in tests/customers/test_pages.py)."""

from __future__ import annotations


def test_members_page_query_count_is_pinned(world, django_assert_max_num_queries):
    c = world.client_for(world.olivia)
    c.get("/settings/members/")
    with django_assert_max_num_queries(7):  # +1: the workspace switcher
        assert c.get("/settings/members/").status_code == 200


def test_dashboard_query_count_is_pinned(world, customers, django_assert_max_num_queries):
    c = world.client_for(world.olivia)
    c.get("/dashboard/")
    with django_assert_max_num_queries(10):  # +1: the workspace switcher
        assert c.get("/dashboard/").status_code == 200

"""Rate limits per API key and per signed-in user: headers, 429 with Retry-After, counted per credential."""

from __future__ import annotations

from tests.api.support import Api, assert_error


def test_it_counts_down_and_answers_429_with_retry_after(world, api_for, settings):
    settings.GUANXI_API_RATE_LIMIT = 3
    api = api_for(world.sam)
    remaining = []
    for _ in range(3):
        r = api.get("/workspace")
        assert r.status_code == 200
        assert r["X-RateLimit-Limit"] == "3"
        remaining.append(r["X-RateLimit-Remaining"])
    assert remaining == ["2", "1", "0"]
    r = api.get("/workspace")
    body = assert_error(r, 429, "rate_limited")
    assert 1 <= int(r["Retry-After"]) <= 60
    assert r["X-RateLimit-Remaining"] == "0"
    assert body["message"].startswith("Too many requests")


def test_a_limited_write_changes_nothing(world, api_for, settings):
    from guanxi.core.context import workspace_context
    from guanxi.customers.models import Customer

    settings.GUANXI_API_RATE_LIMIT = 1
    api = api_for(world.sam)
    assert api.post("/customers", {"name": "一"}).status_code == 201
    assert_error(api.post("/customers", {"name": "二"}), 429, "rate_limited")
    with workspace_context(world.ws_a):
        assert not Customer.objects.filter(name="二").exists()


def test_each_key_has_its_own_budget(world, api_for, settings):
    settings.GUANXI_API_RATE_LIMIT = 1
    first, second = api_for(world.sam), api_for(world.sam)
    assert first.get("/workspace").status_code == 200
    assert_error(first.get("/workspace"), 429, "rate_limited")
    assert second.get("/workspace").status_code == 200


def test_the_session_is_limited_per_user(world, settings):
    settings.GUANXI_API_RATE_LIMIT = 2
    api = Api(client=world.client_for(world.rita))
    assert api.get("/me").status_code == 200
    assert api.get("/me")["X-RateLimit-Remaining"] == "0"
    assert_error(api.get("/me"), 429, "rate_limited")
    assert Api(client=world.client_for(world.sam)).get("/me").status_code == 200

"""Helpers for API tests."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client


class Api:
    """A test client that sends one member's API key (or none) and speaks JSON."""

    def __init__(self, key: str | None = None, *, client: Client | None = None, lang: str = "en"):
        self.key = key
        self.client = client or Client()
        self.lang = lang

    def _headers(self) -> dict[str, str]:
        h = {"HTTP_ACCEPT_LANGUAGE": self.lang}
        if self.key is not None:
            h["HTTP_AUTHORIZATION"] = f"Bearer {self.key}"
        return h

    def get(self, path: str, **params: Any):
        return self.client.get(f"/api/v1{path}", params, **self._headers())

    def post(self, path: str, body: Any = None):
        return self.client.post(
            f"/api/v1{path}", json.dumps(body or {}), content_type="application/json", **self._headers()
        )

    def patch(self, path: str, body: Any = None):
        return self.client.patch(
            f"/api/v1{path}", json.dumps(body or {}), content_type="application/json", **self._headers()
        )

    def delete(self, path: str):
        return self.client.delete(f"/api/v1{path}", **self._headers())


def assert_error(response, status: int, code: str) -> dict:
    """The one error shape, with this status and code."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "fields"}, body
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    for f in body["fields"]:
        assert set(f) == {"field", "message"}
    return body

"""The HTTP API at /api/v1 (Django Ninja). Routers live in each app's api.py and are added here."""

from __future__ import annotations

from ninja import NinjaAPI

api = NinjaAPI(
    title="Guanxi API", version="1", urls_namespace="api", openapi_url="/openapi.json", docs_url="/docs"
)

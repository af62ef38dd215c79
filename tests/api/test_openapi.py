"""The OpenAPI schema is committed (docs/openapi.json) and must match the live one; the docs page needs no CDN.

To regenerate the snapshot after an intended API change:

    GUANXI_UPDATE_OPENAPI=1 .venv/bin/python -m pytest tests/api/test_openapi.py
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from django.test import Client

SNAPSHOT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
REGENERATE = "GUANXI_UPDATE_OPENAPI=1 .venv/bin/python -m pytest tests/api/test_openapi.py"


def _live_schema() -> dict:
    r = Client().get("/api/v1/openapi.json")
    assert r.status_code == 200
    return r.json()


def test_the_committed_schema_matches_the_live_one(db):
    live = _live_schema()
    if os.environ.get("GUANXI_UPDATE_OPENAPI") == "1":
        SNAPSHOT.write_text(json.dumps(live, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert SNAPSHOT.exists(), f"docs/openapi.json is missing; create it with: {REGENERATE}"
    committed = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert committed == live, (
        "The API's OpenAPI schema differs from docs/openapi.json. If the change is intended, regenerate the "
        f"snapshot and commit it: {REGENERATE}"
    )


def test_the_schema_is_openapi_3_1_with_bearer_auth_and_the_error_shape(db):
    schema = _live_schema()
    assert schema["openapi"].startswith("3.1")
    schemes = schema["components"]["securitySchemes"]
    assert any(s.get("scheme") == "bearer" for s in schemes.values())
    assert {"code", "message", "fields"} <= set(schema["components"]["schemas"]["ErrorOut"]["properties"])
    for path in ("/api/v1/customers", "/api/v1/customers/{customer_id}", "/api/v1/audit", "/api/v1/me"):
        assert path in schema["paths"]


def test_operation_ids_are_unique(db):
    ids = [op["operationId"] for item in _live_schema()["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids)), sorted(ids)


def test_the_docs_page_loads_everything_from_this_server(db):
    r = Client().get("/api/v1/docs")
    assert r.status_code == 200
    html = r.content.decode()
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert refs, html
    assert all(ref.startswith("/static/") for ref in refs), refs
    assert "cdn" not in html.lower()
    assert "/api/v1/openapi.json" in html
    # and the assets it names are actually served
    for ref in refs:
        asset = Client().get(ref)
        assert asset.status_code == 200, ref

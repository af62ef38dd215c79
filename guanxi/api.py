"""The HTTP API at /api/v1 (Django Ninja). Routers live in each app's api.py and are added here.

Authentication, the error shape, pagination and rate limits: ``guanxi.core.api_support``; usage: docs/api.md.
The OpenAPI schema is served at /api/v1/openapi.json and its snapshot kept in docs/openapi.json
(regenerate: ``GUANXI_UPDATE_OPENAPI=1 python -m pytest tests/api/test_openapi.py``).
"""

from __future__ import annotations

from guanxi.core.api_support import API_AUTH, GuanxiAPI

api = GuanxiAPI(
    title="Guanxi API",
    version="1",
    description="Guanxi (关系) CRM. Authenticate with 'Authorization: Bearer <API key>'. See docs/api.md.",
    urls_namespace="api",
    openapi_url="/openapi.json",
    docs_url="/docs",
    auth=API_AUTH,
)

api.add_router("", "guanxi.workspaces.api.router")
# before the customers router: /customers/search must not be read as /customers/{customer_id}
api.add_router("", "guanxi.customers.api_search.router")
api.add_router("", "guanxi.customers.api.router")
api.add_router("", "guanxi.customers.api_dedupe.router")
api.add_router("", "guanxi.ledger.api.router")
api.add_router("", "guanxi.sales.api.router")
api.add_router("", "guanxi.sales.api_cash.router")
api.add_router("", "guanxi.sales.api_activities.router")
api.add_router("", "guanxi.customers.api_import.router")
api.add_router("", "guanxi.service.api.router")
api.add_router("", "guanxi.service.api_kb.router")
api.add_router("", "guanxi.service.api_complaints.router")
api.add_router("", "guanxi.service.api_surveys.router")
api.add_router("", "guanxi.service.api_visits.router")
api.add_router("", "guanxi.analytics.api.router")
api.add_router("", "guanxi.contact_center.api.router")
api.add_router("", "guanxi.channels.api.router")
api.add_router("", "guanxi.sales.api_erp.router")
api.add_router("", "guanxi.sales.api_forecast.router")
api.add_router("", "guanxi.sales.api_expenses.router")
api.add_router("", "guanxi.telephony.api.router")
api.add_router("", "guanxi.telephony.api_outbound.router")

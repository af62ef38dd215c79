"""Tenant isolation over EVERY route the project has (issue 2, item 5).

The routes are read from Django's resolver, not from a hand-picked list, so a new page or API route is covered the
moment it exists. Each route is requested with every HTTP method by the outsider (owner of workspace B), with the
ids of workspace A's objects filled into its path. For routes that address an object the answer must be 403/404/405
(or a redirect away); for every route, no byte of A's data may appear in the response and no row of A may change.

A route whose path parameter is not known below fails the test with a message saying where to register it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from django.apps import apps
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from guanxi.accounts.models import OutboxMessage
from guanxi.accounts.services import invitation_create
from guanxi.core.context import workspace_context
from guanxi.core.models import TenantModel
from guanxi.customers.services import customfield_create, savedview_save, tag_create
from guanxi.workspaces.apikeys import apikey_create

from .conftest import World
from .sales.activities_support import activity_objects
from .sales.cash import cash_objects
from .sales.forecast_objects import forecast_objects
from .sales.objects import sales_objects

METHODS = ["get", "post", "put", "patch", "delete"]

# Path parameter name -> how to get the value that names one of workspace A's objects.
# Register new parameter names here when you add a route that takes one.
# Bearer-token routes (invitation links, password-reset links) get a wrong token here: holding the real token is
# the authorisation those routes are about, and their own tests cover it.
PARAMS: dict[str, Callable[[World, dict], object]] = {
    "customer_id": lambda w, objs: objs["sam_c"].pk,
    "import_id": lambda w, objs: objs["import_job"].pk,
    "invitation_id": lambda w, objs: objs["invitation"].pk,
    "message_id": lambda w, objs: objs["outbox_message"].pk,
    "token": lambda w, objs: "not-a-valid-token",
    "key_id": lambda w, objs: objs["sam_key"].pk,
    "member_id": lambda w, objs: w.sam.pk,
    "team_id": lambda w, objs: w.team_east.pk,
    "uidb64": lambda w, objs: urlsafe_base64_encode(force_bytes(w.sam.user.pk)),
    "tag_id": lambda w, objs: objs["tag"].pk,
    "field_id": lambda w, objs: objs["custom_field"].pk,
    "view_id": lambda w, objs: objs["saved_view"].pk,
    "lead_id": lambda w, objs: objs["lead"].pk,
    "opportunity_id": lambda w, objs: objs["opportunity"].pk,
    "pipeline_id": lambda w, objs: objs["pipeline"].pk,
    "stage_id": lambda w, objs: objs["stage"].pk,
    "territory_id": lambda w, objs: objs["territory"].pk,
    "rule_id": lambda w, objs: objs["rule"].pk,
    "form_id": lambda w, objs: objs["lead_form"].pk,
    "scan_id": lambda w, objs: objs["dedupe_scan"].pk,
    "candidate_id": lambda w, objs: objs["candidate"].pk,
    "merge_id": lambda w, objs: objs["merge"].pk,
    "product_id": lambda w, objs: objs["product"].pk,
    "pricelist_id": lambda w, objs: objs["pricelist"].pk,
    "quote_id": lambda w, objs: objs["quote"].pk,
    "approval_id": lambda w, objs: objs["approval"].pk,
    "order_id": lambda w, objs: objs["order"].pk,
    "return_id": lambda w, objs: objs["order_return"].pk,
    "reservation_id": lambda w, objs: objs["reservation"].pk,
    "task_id": lambda w, objs: objs["cc_task"].pk,
    "conversation_id": lambda w, objs: objs["conversation"].pk,
    "external_id": lambda w, objs: objs["erp_order"].external_id,
    "order_import_id": lambda w, objs: objs["order_import_job"].pk,
    "claim_id": lambda w, objs: objs["expense_claim"].pk,
    "receipt_id": lambda w, objs: objs["receipt"].pk,
    "activity_id": lambda w, objs: objs["activity"].pk,
    "run_id": lambda w, objs: objs["analysis_run"].pk,
    "ticket_id": lambda w, objs: objs["ticket"].pk,
    "attachment_id": lambda w, objs: objs["attachment"].pk,
    "calendar_id": lambda w, objs: objs["calendar"].pk,
    # knowledge base, surveys (branch svckb)
    "article_id": lambda w, objs: objs["article"].pk,
    "version": lambda w, objs: 1,
    "reply_id": lambda w, objs: objs["canned_reply"].pk,
    "survey_id": lambda w, objs: objs["survey"].pk,
    # SLA policies, assignment rules, field visits (branch service)
    "policy_id": lambda w, objs: objs["sla_policy"].pk,
    "ticket_rule_id": lambda w, objs: objs["ticket_rule"].pk,
    "visit_id": lambda w, objs: objs["visit"].pk,
    # telephony (branch sip)
    "call_id": lambda w, objs: objs["tel_call"].pk,
    # outbound lists (branch telp)
    "list_id": lambda w, objs: objs["tel_outbound_list"].pk,
    "entry_id": lambda w, objs: objs["tel_outbound_entry"].pk,
    "menu_id": lambda w, objs: objs["tel_menu"].pk,
    "key": lambda w, objs: "root",
    # web chat (branch chat)
    "widget_id": lambda w, objs: objs["chat_widget"].pk,
}

# Values that must never appear in what the outsider receives.
SECRETS = ["张三丰", "李四", "王五有限公司", "13800138000", "sam@example.com", "Acme 贸易", "赵六", "錢七"]

# Routes allowed to answer 200 to anyone (they address no tenant object); they are still checked for leaks and
# for changes to workspace A.
NO_OBJECT_OK = {200, 201, 204, 301, 302, 303, 400, 401, 403, 404, 405, 409, 422, 429}  # 409: a duplicate in B
OBJECT_OK = {301, 302, 303, 400, 401, 403, 404, 405, 422, 429}


@dataclass
class Route:
    path: str  # with <name> placeholders
    params: list[str]
    name: str


_CONVERTER = re.compile(r"<(?:(?P<conv>[^>:]+):)?(?P<name>\w+)>")


def _walk(patterns: list, prefix: str = "") -> Iterator[Route]:
    for p in patterns:
        route = str(p.pattern)
        if route.startswith("^"):  # regex patterns: strip anchors; none of ours take regex groups
            route = route.lstrip("^").rstrip("$").replace("\\", "")
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, prefix + route)
        elif isinstance(p, URLPattern):
            full = prefix + route
            params = [m.group("name") for m in _CONVERTER.finditer(full)]
            yield Route(path=full, params=params, name=p.name or full)


def all_routes() -> list[Route]:
    seen, out = set(), []
    for r in _walk(get_resolver().url_patterns):
        if r.path not in seen:
            seen.add(r.path)
            out.append(r)
    return out


def tenant_snapshot(ws) -> dict[str, list[dict]]:
    snap = {}
    for model in apps.get_models():
        if issubclass(model, TenantModel):
            snap[model._meta.label] = list(model.all_workspaces.filter(workspace=ws).order_by("pk").values())
    from guanxi.workspaces.models import Workspace

    snap["workspace"] = list(Workspace.objects.filter(pk=ws.pk).values())
    return snap


def test_the_route_walk_finds_the_routes_we_know():
    paths = {r.path for r in all_routes()}
    assert "customers/<int:customer_id>/" in paths
    assert any(p.startswith("api/v1/") for p in paths)
    assert len(paths) >= 10


# What a write attempt sends: plausible values for the fields our forms and schemas take.
PAYLOAD = {
    "name": "hacked",
    "role": "owner",
    "email": "x@example.com",
    "scopes": ["read", "write"],
    "password": "Another-pass-2026",
    "company_name": "X",
    "username": "intruder",
    "workspace_id": 1,
}


def _attempts(world: World, oscar_key: str, *, api: bool):
    """(method, body kind, client) for every way the outsider can ask: session form/JSON, and Bearer key for the API."""
    for method in METHODS:
        yield method, "form", world.client_for(world.oscar)
        if method != "get":
            yield method, "json", world.client_for(world.oscar)
        if api:
            yield method, "json", Client(HTTP_AUTHORIZATION=f"Bearer {oscar_key}")


@pytest.fixture
def a_objects(world: World, customers) -> dict:
    """One object of every kind in workspace A that a route can name."""
    objs = dict(customers)
    with workspace_context(world.ws_a):
        objs["invitation"], _token = invitation_create(
            actor=world.olivia, role="sales", email="new@example.com"
        )
        objs["sam_key"], _plain = apikey_create(actor=world.sam, name="k", scopes=["read"])
        objs["tag"] = tag_create(actor=world.olivia, name="A 标签")
        objs["custom_field"] = customfield_create(
            actor=world.olivia, key="a_level", label="A", field_type="text"
        )
        objs["saved_view"] = savedview_save(actor=world.sam, name="A 视图", params={})
    objs.update(sales_objects(world, customers))
    objs.update(cash_objects(world, customers))
    objs.update(forecast_objects(world, customers))
    objs.update(activity_objects(world, customers))
    from tests.service.objects import service_objects

    objs.update(service_objects(world, customers))
    from tests.service.objects_svckb import svckb_objects

    objs.update(svckb_objects(world, customers))
    from guanxi.customers.models import ImportJob

    objs["import_job"] = ImportJob.all_workspaces.create(
        workspace=world.ws_a, created_by=world.sam.user, file_name="a.csv", file_path="/nonexistent/a.csv",
        file_sha256="0" * 64, file_format="csv", headers=["姓名"], mapping={"0": "name"},
    )  # fmt: skip
    from tests.sales.test_import_orders import erp_objects

    objs.update(erp_objects(world, objs))
    objs["outbox_message"] = OutboxMessage.objects.create(
        sender="noreply@example.com",
        recipients="sam@example.com",
        subject="Reset",
        body="reset 13800138000",
        raw="",
    )
    from tests.customers.test_dedupe_support import dedupe_objects

    objs.update(dedupe_objects(world))
    from tests.contact_center.test_api import cc_objects

    objs.update(cc_objects(world))
    from tests.telephony.support import tel_call_objects

    objs.update(tel_call_objects(world))
    from tests.webchat.support import webchat_objects

    objs.update(webchat_objects(world, objs))
    from guanxi.analytics.models import AnalysisRun

    objs["analysis_run"] = AnalysisRun.all_workspaces.create(
        workspace=world.ws_a, kinds=["tiers"], status="succeeded"
    )
    return objs


@pytest.mark.django_db
@pytest.mark.timeout(1500)  # walks every route with several clients: minutes, more on a loaded machine
def test_outsider_gets_nothing_from_any_route(world: World, a_objects):
    customers = a_objects
    routes = all_routes()
    unknown = sorted({p for r in routes for p in r.params if p not in PARAMS})
    assert not unknown, f"register these path parameters in tests/test_isolation.py PARAMS: {unknown}"
    with workspace_context(world.ws_b):
        _k, oscar_key = apikey_create(actor=world.oscar, name="outsider", scopes=["read", "write"])
    before = tenant_snapshot(world.ws_a)
    failures = []
    for route in routes:
        path = "/" + route.path
        for name in route.params:
            value = PARAMS[name](world, customers)
            path = _CONVERTER.sub(
                lambda m, n=name, v=value: str(v) if m.group("name") == n else m.group(0), path
            )
        allowed = OBJECT_OK if route.params else NO_OBJECT_OK
        for method, kind, client in _attempts(world, oscar_key, api=route.path.startswith("api/")):
            if kind == "json":
                response = getattr(client, method)(path, data=PAYLOAD, content_type="application/json")
            elif method == "get":
                response = client.get(path)
            else:  # a form post, as a browser would send
                response = (
                    getattr(client, method)(path, data=PAYLOAD)
                    if method == "post"
                    else getattr(client, method)(path)
                )
            body = b"".join(response) if response.streaming else response.content
            text = body.decode("utf-8", "replace")
            where = f"{method.upper()} {path} ({kind})"
            if response.status_code not in allowed:
                failures.append(f"{where} -> {response.status_code}")
            leaked = [s for s in SECRETS if s in text]
            if leaked:
                failures.append(f"{where} leaked {leaked}")
        after = tenant_snapshot(world.ws_a)
        if after != before:
            changed = [k for k in after if after[k] != before.get(k)]
            failures.append(f"{route.path} changed workspace A: {changed}")
            before = after
    assert not failures, "\n".join(failures)

"""API of the ERP sync (ERP 订单同步) and of order imports (订单导入). Writes through ``services.erp`` and
``sales.importing.services``; usage in docs/api.md ("ERP sync")."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.http import HttpRequest
from ninja import Field, File, Form, Router, Schema, Status
from ninja.files import UploadedFile

from guanxi.core.api_support import ErrorOut, member
from guanxi.sales.api_cash import LineOut
from guanxi.sales.services import erp

router = Router(tags=["sales: ERP sync and order import"])
ERRORS: dict[int, type[ErrorOut]] = {code: ErrorOut for code in (400, 401, 403, 404, 409, 422, 429)}


class ErpLineIn(Schema):
    line_no: str | None = Field(
        None, max_length=40, description="The ERP's line number; default: the position."
    )
    sku: str | None = Field(None, max_length=64, description="The product, by SKU (or give product_name).")
    product_name: str | None = Field(None, max_length=200)
    description: str = Field("", max_length=200)
    unit: str = Field("", max_length=20)
    quantity: Decimal
    unit_price: Decimal
    discount_pct: Decimal = Decimal("0")
    tax_rate: Decimal | None = Field(None, description="Default: the product's VAT rate.")
    currency: str | None = Field(None, max_length=3, description="If given, must be the order's currency.")


class ErpOrderIn(Schema):
    customer_id: int | None = Field(None, description="Guanxi's customer id; or one of the three below.")
    customer_external_id: str | None = Field(None, max_length=100)
    customer_phone: str | None = Field(None, max_length=40)
    customer_email: str | None = Field(None, max_length=254)
    ordered_at: str = Field(description="2024-03-01 or an ISO date-time")
    status: str = Field("confirmed", description="confirmed, shipped, delivered or cancelled")
    currency: str = Field("CNY", max_length=3)
    lines: list[ErpLineIn]


class ErpBatchOrderIn(ErpOrderIn):
    external_id: str = Field(max_length=100)


class ErpBatchIn(Schema):
    orders: list[ErpBatchOrderIn] = Field(description=f"At most {erp.ERP_BATCH_MAX} orders.")


class ErpOrderOut(Schema):
    id: int
    number: str
    external_id: str
    source: str
    customer_id: int
    status: str
    currency: str
    subtotal: Decimal
    discount_total: Decimal
    tax_total: Decimal
    total: Decimal
    ordered_at: dt.datetime
    lines: list[LineOut]


class ErpSyncOut(Schema):
    external_id: str
    result: str = Field(description="created, updated or unchanged; in a batch also error or not_found")
    order: ErpOrderOut | None = None
    errors: list[dict[str, str]] = Field([], description="[{field, message}] for an order refused")


class ErpBatchOut(Schema):
    results: list[ErpSyncOut]
    created: int
    updated: int
    unchanged: int
    failed: int


def _out(res: erp.ErpResult) -> dict:
    return {
        "external_id": res.external_id,
        "result": res.result,
        "order": res.order,
        "errors": [{"field": k, "message": v} for k, v in res.errors.items()],
    }


@router.put(
    "/erp/orders/{external_id}",
    response={200: ErpSyncOut, 201: ErpSyncOut, **ERRORS},
    summary="Create or update an order by its ERP id (idempotent)",
)
def erp_order_put(request: HttpRequest, external_id: str, payload: ErpOrderIn) -> Status:
    res = erp.erp_order_upsert(actor=member(request), external_id=external_id, data=payload.dict())
    return Status(201 if res.result == "created" else 200, _out(res))


@router.post(
    "/erp/orders:batch",
    response={200: ErpBatchOut, **ERRORS},
    summary="Create or update several orders by their ERP ids (per order: a bad order is reported, the rest kept)",
)
def erp_order_batch(request: HttpRequest, payload: ErpBatchIn) -> dict:
    results = erp.erp_orders_batch(actor=member(request), orders=[o.dict() for o in payload.orders])
    count = {k: sum(1 for r in results if r.result == k) for k in ("created", "updated", "unchanged")}
    return {
        "results": [_out(r) for r in results],
        **count,
        "failed": sum(1 for r in results if r.errors),
    }


# --- order imports -----------------------------------------------------------------------------------------------
class OrderImportOut(Schema):
    id: int
    status: str
    file_name: str
    headers: list[str]
    mapping: dict[str, str]
    create_customers: bool
    create_products: bool
    total_rows: int
    next_row: int
    percent: int
    orders_created: int
    orders_updated: int
    lines_written: int
    customers_created: int
    rejected_count: int
    error: str


class OrderImportStartIn(Schema):
    mapping: dict[str, str] | None = Field(None, description="column index -> field; default: the guess")
    create_customers: bool = False
    create_products: bool = False


@router.post(
    "/order-imports",
    response={201: OrderImportOut, **ERRORS},
    summary="Upload an order file (CSV or XLSX, one row per order line) and get the guessed mapping",
)
def order_import_upload(request: HttpRequest, file: File[UploadedFile], name: Form[str] = "") -> Status:
    from guanxi.sales.importing import services as imp

    job = imp.order_import_create(actor=member(request), file_name=name or file.name or "orders.csv",
                                  chunks=file.chunks())  # fmt: skip
    return Status(201, job)


@router.post(
    "/order-imports/{order_import_id}/start",
    response={200: OrderImportOut, **ERRORS},
    summary="Start an uploaded order import (runs as a background job)",
)
def order_import_begin(request: HttpRequest, order_import_id: int, payload: OrderImportStartIn) -> object:
    from guanxi.sales.importing import services as imp

    return imp.order_import_start(actor=member(request), job_id=order_import_id, **payload.dict())


@router.get(
    "/order-imports/{order_import_id}",
    response={200: OrderImportOut, **ERRORS},
    summary="An order import's status, progress and counts",
)
def order_import_detail(request: HttpRequest, order_import_id: int) -> object:
    from guanxi.sales.importing import services as imp

    return imp.get_order_import_for(member(request), order_import_id)

"""API routes for customer import (批量导入) and export (批量导出). The same services as the UI and the CLI."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from django.http import FileResponse, HttpRequest, StreamingHttpResponse
from ninja import Field, File, Query, Router, Schema, Status
from ninja.files import UploadedFile

from guanxi.core.api_support import ErrorOut, member
from guanxi.core.errors import NotFound
from guanxi.customers.exporting import content_type, export_filename, export_stream
from guanxi.customers.importing.services import (
    get_import_for,
    import_configure,
    import_create,
    import_preview,
    import_start,
)

router = Router(tags=["import-export"])
ERRORS: dict[int, type[ErrorOut]] = {code: ErrorOut for code in (400, 401, 403, 404, 422, 429)}


class ImportOut(Schema):
    id: int
    status: str
    file_name: str
    file_format: str
    layout: str
    encoding: str
    headers: list[str]
    mapping: dict[str, str] = Field(
        description="Column index -> target field (name, phone, email, custom:<key>…)."
    )
    on_duplicate: str
    total_rows: int
    processed_rows: int = Field(alias="next_row")
    percent: int
    created: int = Field(alias="created_count")
    updated: int = Field(alias="updated_count")
    skipped: int = Field(alias="skipped_count")
    rejected: int = Field(alias="rejected_count")
    error: str
    created_at: dt.datetime
    finished_at: dt.datetime | None


class ImportPatch(Schema):
    mapping: dict[str, str] | None = None
    on_duplicate: str | None = Field(None, description="skip | update | create")


class PreviewCell(Schema):
    value: str
    error: str


class PreviewRow(Schema):
    row_number: int
    ok: bool
    errors: list[str]
    cells: list[PreviewCell]


class PreviewOut(Schema):
    headers: list[str]
    mapping: dict[str, str]
    rows: list[PreviewRow]


class ExportQuery(Schema):
    format: str = Field("csv", description="csv | xlsx | vcard")
    q: str | None = None
    kind: str | None = None
    owner_id: int | None = None
    province: str | None = None
    city: str | None = None
    industry: str | None = None
    source: str | None = None
    company_name: str | None = None
    tag: str | None = None


@router.post("/imports", response={201: ImportOut, **ERRORS}, summary="Upload a file to import")
def import_upload(request: HttpRequest, file: File[UploadedFile]) -> Status:
    """CSV (UTF-8 or GBK/GB18030), XLSX or vCard. Answers with the guessed mapping; nothing is imported yet."""
    job = import_create(actor=member(request), file_name=file.name or "import", chunks=file.chunks())
    return Status(201, job)


@router.get("/imports/{import_id}", response={200: ImportOut, **ERRORS}, summary="Import status and report")
def import_detail(request: HttpRequest, import_id: int) -> object:
    return get_import_for(member(request), import_id)


@router.patch("/imports/{import_id}", response={200: ImportOut, **ERRORS}, summary="Set mapping or policy")
def import_change(request: HttpRequest, import_id: int, payload: ImportPatch) -> object:
    return import_configure(
        actor=member(request), job_id=import_id, mapping=payload.mapping, on_duplicate=payload.on_duplicate
    )


@router.get("/imports/{import_id}/preview", response={200: PreviewOut, **ERRORS}, summary="Preview rows")
def import_preview_rows(request: HttpRequest, import_id: int) -> object:
    return import_preview(actor=member(request), job_id=import_id, limit=20)


@router.post("/imports/{import_id}/start", response={202: ImportOut, **ERRORS}, summary="Start the import")
def import_begin(request: HttpRequest, import_id: int) -> Status:
    return Status(202, import_start(actor=member(request), job_id=import_id))


@router.get("/imports/{import_id}/rejected", response={200: None, **ERRORS}, summary="Rejected rows (CSV)")
def import_rejected(request: HttpRequest, import_id: int) -> FileResponse:
    job = get_import_for(member(request), import_id)
    if not job.rejected_path or not Path(job.rejected_path).is_file():
        raise NotFound()
    return FileResponse(
        open(job.rejected_path, "rb"),  # noqa: SIM115 - FileResponse closes it
        as_attachment=True,
        filename=f"import-{job.pk}-rejected.csv",
        content_type="text/csv; charset=utf-8",
    )


@router.get("/exports/customers", response={200: None, **ERRORS}, summary="Export customers (streamed)")
def customers_export(request: HttpRequest, query: Query[ExportQuery]) -> StreamingHttpResponse:
    """The customers the caller may see, filtered like the list; phones/emails masked outside their
    personal-data scope."""
    filters = {k: str(v) for k, v in query.dict(exclude={"format"}).items() if v not in (None, "")}
    stream = export_stream(actor=member(request), fmt=query.format, filters=filters)
    response = StreamingHttpResponse(stream, content_type=content_type(query.format))
    response["Content-Disposition"] = f'attachment; filename="{export_filename(query.format)}"'
    return response

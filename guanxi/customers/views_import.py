"""Web pages for import (upload → mapping → preview → duplicate policy → start → progress → report) and export."""

from __future__ import annotations

from pathlib import Path

from django.contrib import messages
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from guanxi.core.errors import ValidationFailed
from guanxi.customers.exporting import FILTERS, FORMATS, content_type, export_filename, export_stream
from guanxi.customers.importing.mapping import target_choices
from guanxi.customers.importing.services import (
    get_import_for,
    import_configure,
    import_create,
    import_list,
    import_preview,
    import_start,
)
from guanxi.customers.models import CustomFieldDefinition, DuplicatePolicy, ImportStatus
from guanxi.web.decorators import member_required
from guanxi.workspaces.permissions import Module


@member_required(Module.CUSTOMERS, "edit")
@require_http_methods(["GET", "POST"])
def import_upload_view(request: HttpRequest) -> HttpResponse:
    error = ""
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            error = _("Choose a file to import.")
        else:
            try:
                job = import_create(actor=request.membership, file_name=upload.name, chunks=upload.chunks())
            except ValidationFailed as exc:
                error = exc.message
            else:
                return redirect("customers_import:detail", import_id=job.pk)
    return render(
        request,
        "customers/import_upload.html",
        {"error": error, "jobs": import_list(actor=request.membership)},
        status=422 if error else 200,
    )


def _custom_fields() -> list[tuple[str, str]]:
    return list(CustomFieldDefinition.objects.filter(is_active=True).values_list("key", "label"))


@member_required(Module.CUSTOMERS, "edit")
def import_detail_view(request: HttpRequest, import_id: int) -> HttpResponse:
    job = get_import_for(request.membership, import_id)
    ctx: dict = {"job": job}
    if job.status == ImportStatus.UPLOADED:
        choices = target_choices(_custom_fields())
        ctx["columns"] = [
            {"index": str(i), "header": h, "target": job.mapping.get(str(i), "")}
            for i, h in enumerate(job.headers)
        ]
        ctx["choices"] = choices
        ctx["preview"] = import_preview(actor=request.membership, job_id=job.pk, limit=10)
        ctx["policies"] = DuplicatePolicy.choices
        ctx["errors"] = request.session.pop(f"import-{job.pk}-errors", {})
    return render(request, "customers/import_detail.html", ctx)


def _posted_mapping(request: HttpRequest, job) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {str(i): request.POST.get(f"col_{i}", "") for i in range(len(job.headers))}


@member_required(Module.CUSTOMERS, "edit")
@require_POST
def import_mapping_view(request: HttpRequest, import_id: int) -> HttpResponse:
    job = get_import_for(request.membership, import_id)
    try:
        mapping = _posted_mapping(request, job)
        policy = request.POST.get("on_duplicate") or None
        if request.POST.get("action") == "start":
            import_start(actor=request.membership, job_id=job.pk, mapping=mapping, on_duplicate=policy)
        else:
            import_configure(actor=request.membership, job_id=job.pk, mapping=mapping, on_duplicate=policy)
    except ValidationFailed as exc:
        request.session[f"import-{job.pk}-errors"] = exc.fields or {"": exc.message}
    return redirect("customers_import:detail", import_id=job.pk)


@member_required(Module.CUSTOMERS, "edit")
def import_progress_view(request: HttpRequest, import_id: int) -> HttpResponse:
    """The progress bar (polled by htmx every second); once finished, the whole page reloads into the report."""
    job = get_import_for(request.membership, import_id)
    response = render(request, "customers/_import_progress.html", {"job": job})
    if request.htmx and job.status in {ImportStatus.DONE, ImportStatus.FAILED}:
        response["HX-Refresh"] = "true"
    return response


@member_required(Module.CUSTOMERS, "edit")
def import_rejected_view(request: HttpRequest, import_id: int) -> FileResponse:
    job = get_import_for(request.membership, import_id)
    if not job.rejected_path or not Path(job.rejected_path).is_file():
        raise Http404()
    return FileResponse(
        open(job.rejected_path, "rb"),  # noqa: SIM115 - FileResponse closes it
        as_attachment=True,
        filename=f"import-{job.pk}-rejected.csv",
        content_type="text/csv; charset=utf-8",
    )


@member_required(Module.CUSTOMERS, "view")
def export_view(request: HttpRequest) -> HttpResponse:
    """Without ``format``: the export form. With it: the file, streamed (filters as in the list's query)."""
    fmt = request.GET.get("format")
    filters = {k: v for k, v in request.GET.items() if k in FILTERS and v}
    if fmt:
        try:
            stream = export_stream(actor=request.membership, fmt=fmt, filters=filters)
        except ValidationFailed as exc:
            messages.error(request, exc.message)
            return redirect("customers_import:export")
        response = StreamingHttpResponse(stream, content_type=content_type(fmt))
        response["Content-Disposition"] = f'attachment; filename="{export_filename(fmt)}"'
        return response
    return render(request, "customers/export.html", {"filters": filters, "formats": list(FORMATS)})

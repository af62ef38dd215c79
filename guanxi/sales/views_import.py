"""Web pages of the order import (订单导入): upload → mapping and preview → options → start → progress → report.

The same services as the API and ``guanxi import orders``; the job runs in the background (Huey) and the page
polls its progress with htmx."""

from __future__ import annotations

from pathlib import Path

from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from guanxi.core.errors import AppError, ValidationFailed
from guanxi.sales.importing.mapping import target_choices
from guanxi.sales.importing.services import (
    get_order_import_for,
    order_import_configure,
    order_import_create,
    order_import_list,
    order_import_preview,
    order_import_start,
)
from guanxi.sales.models import OrderImportStatus
from guanxi.web.decorators import member_required
from guanxi.workspaces.permissions import Module


@member_required(Module.SALES, "edit")
@require_http_methods(["GET", "POST"])
def order_import_upload_view(request: HttpRequest) -> HttpResponse:
    error = ""
    if request.method == "POST":
        upload = request.FILES.get("file")
        if upload is None:
            error = _("Choose a file to import.")
        else:
            try:
                job = order_import_create(
                    actor=request.membership, file_name=upload.name, chunks=upload.chunks()
                )
            except AppError as exc:
                error = exc.message
            else:
                return redirect("sales:order_import_detail", order_import_id=job.pk)
    return render(
        request,
        "sales/order_import_upload.html",
        {"error": error, "jobs": order_import_list(actor=request.membership)},
        status=422 if error else 200,
    )


@member_required(Module.SALES, "edit")
def order_import_detail_view(request: HttpRequest, order_import_id: int) -> HttpResponse:
    job = get_order_import_for(request.membership, order_import_id)
    ctx: dict = {"job": job}
    if job.status == OrderImportStatus.UPLOADED:
        ctx["columns"] = [
            {"index": str(i), "header": h, "target": job.mapping.get(str(i), "")}
            for i, h in enumerate(job.headers)
        ]
        ctx["choices"] = target_choices()
        ctx["preview"] = order_import_preview(actor=request.membership, job_id=job.pk, limit=10)
        ctx["errors"] = request.session.pop(f"order-import-{job.pk}-errors", {})
    return render(request, "sales/order_import_detail.html", ctx)


@member_required(Module.SALES, "edit")
@require_POST
def order_import_mapping_view(request: HttpRequest, order_import_id: int) -> HttpResponse:
    """Save the mapping (and refresh the preview), or start the import with it."""
    job = get_order_import_for(request.membership, order_import_id)
    mapping = {str(i): request.POST.get(f"col_{i}", "") for i in range(len(job.headers))}
    try:
        if request.POST.get("action") == "start":
            order_import_start(
                actor=request.membership,
                job_id=job.pk,
                mapping=mapping,
                create_customers=request.POST.get("create_customers") == "on",
                create_products=request.POST.get("create_products") == "on",
            )
        else:
            order_import_configure(actor=request.membership, job_id=job.pk, mapping=mapping)
    except ValidationFailed as exc:
        request.session[f"order-import-{job.pk}-errors"] = exc.fields or {"": exc.message}
    except AppError as exc:
        request.session[f"order-import-{job.pk}-errors"] = {"": exc.message}
    return redirect("sales:order_import_detail", order_import_id=job.pk)


@member_required(Module.SALES, "edit")
def order_import_progress_view(request: HttpRequest, order_import_id: int) -> HttpResponse:
    """The progress bar (polled by htmx every second); once finished, the whole page reloads into the report."""
    job = get_order_import_for(request.membership, order_import_id)
    response = render(request, "sales/order_import_progress.html", {"job": job})
    if request.htmx and job.status in {OrderImportStatus.DONE, OrderImportStatus.FAILED}:
        response["HX-Refresh"] = "true"
    return response


@member_required(Module.SALES, "edit")
def order_import_rejected_view(request: HttpRequest, order_import_id: int) -> FileResponse:
    job = get_order_import_for(request.membership, order_import_id)
    if not job.rejected_path or not Path(job.rejected_path).is_file():
        raise Http404()
    return FileResponse(
        open(job.rejected_path, "rb"),  # noqa: SIM115 - FileResponse closes it
        as_attachment=True,
        filename=f"order-import-{job.pk}-rejected.csv",
        content_type="text/csv; charset=utf-8",
    )

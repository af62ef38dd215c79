"""Pages of the order import; included from ``sales/urls.py`` (namespace ``sales``)."""

from django.urls import path

from guanxi.sales import views_import as v

urlpatterns = [
    path("orders/import/", v.order_import_upload_view, name="order_import_upload"),
    path("orders/import/<int:order_import_id>/", v.order_import_detail_view, name="order_import_detail"),
    path(
        "orders/import/<int:order_import_id>/mapping/",
        v.order_import_mapping_view,
        name="order_import_mapping",
    ),
    path(
        "orders/import/<int:order_import_id>/progress/",
        v.order_import_progress_view,
        name="order_import_progress",
    ),
    path(
        "orders/import/<int:order_import_id>/rejected/",
        v.order_import_rejected_view,
        name="order_import_rejected",
    ),
]

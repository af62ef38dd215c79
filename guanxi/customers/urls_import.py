from django.urls import path

from guanxi.customers import views_import

app_name = "customers_import"
urlpatterns = [
    path("customers/import/", views_import.import_upload_view, name="upload"),
    path("customers/import/<int:import_id>/", views_import.import_detail_view, name="detail"),
    path("customers/import/<int:import_id>/mapping/", views_import.import_mapping_view, name="mapping"),
    path("customers/import/<int:import_id>/progress/", views_import.import_progress_view, name="progress"),
    path("customers/import/<int:import_id>/rejected/", views_import.import_rejected_view, name="rejected"),
    path("customers/export/", views_import.export_view, name="export"),
]

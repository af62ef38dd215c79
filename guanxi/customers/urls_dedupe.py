"""Web routes for duplicates and merges, included under /duplicates/ by the root urls."""

from django.urls import path

from guanxi.customers import views_dedupe as views

app_name = "dedupe"
urlpatterns = [
    path("", views.queue, name="queue"),
    path("scan/", views.scan_start, name="scan_start"),
    path("scans/<int:scan_id>/", views.scan_progress, name="scan_progress"),
    path("<int:candidate_id>/dismiss/", views.dismiss, name="dismiss"),
    path("merge/", views.merge_form, name="merge"),
    path("merges/<int:merge_id>/", views.merge_detail, name="merge_detail"),
    path("merges/<int:merge_id>/undo/", views.merge_undo, name="merge_undo"),
]

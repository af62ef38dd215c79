from django.urls import include, path  # noqa: F401

app_name = "service"
urlpatterns: list = []
# --- knowledge base, surveys, dashboard (branch svckb) ---
urlpatterns += [
    path("kb/", include("guanxi.service.urls_kb")),
    path("surveys/", include("guanxi.service.urls_survey")),
    path("dashboard/", include("guanxi.service.urls_dashboard")),
]

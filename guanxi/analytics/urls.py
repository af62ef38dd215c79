from django.urls import path

from guanxi.analytics import views

app_name = "analytics"
urlpatterns = [
    path("", views.dashboard_view, name="dashboard"),
    path("charts.csv", views.chart_csv_view, name="chart_csv"),
    path("runs/", views.run_list_view, name="runs"),
    path("runs/<int:run_id>/", views.run_detail_view, name="run_detail"),
    path("settings/", views.settings_view, name="settings"),
    path("assets/plotly.min.js", views.plotly_js_view, name="plotly_js"),
]

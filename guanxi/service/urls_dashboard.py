"""The service evaluation dashboard (included from guanxi/service/urls.py under dashboard/)."""

from django.urls import path

from guanxi.service import views_dashboard

urlpatterns = [
    path("", views_dashboard.dashboard_view, name="dashboard"),
    path("plotly.min.js", views_dashboard.plotly_js_view, name="plotly_js"),
]

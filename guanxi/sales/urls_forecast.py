"""Pages of forecasts, quotas and the leaderboard; included from ``sales/urls.py``."""

from django.urls import path

from guanxi.sales import views_forecast as v

urlpatterns = [
    path("forecast/", v.forecast_view, name="forecast"),
    path("forecast/opportunities/", v.forecast_opportunities_view, name="forecast_opportunities"),
    path("quotas/", v.quota_grid_view, name="quota_grid"),
    path("leaderboard/", v.leaderboard_view, name="leaderboard"),
]

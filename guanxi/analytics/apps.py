from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AnalyticsConfig(AppConfig):
    """Analytical CRM (分析型CRM): value tiers, RFM, lifecycle, mining and prediction; reads committed data, writes
    results back as plain rows."""

    name = "guanxi.analytics"
    label = "analytics"
    verbose_name = _("Analytics")
    default_auto_field = "django.db.models.BigAutoField"

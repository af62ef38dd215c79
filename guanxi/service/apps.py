from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ServiceConfig(AppConfig):
    """Service automation (服务自动化): tickets, service levels, complaints, knowledge base, surveys, field visits."""

    name = "guanxi.service"
    label = "service"
    verbose_name = _("Service")
    default_auto_field = "django.db.models.BigAutoField"

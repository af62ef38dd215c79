from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ContactCenterConfig(AppConfig):
    """Interaction centre (交互中心): channel-neutral routing of calls, chats, emails and messages to agents."""

    name = "guanxi.contact_center"
    label = "contact_center"
    verbose_name = _("Contact centre")
    default_auto_field = "django.db.models.BigAutoField"

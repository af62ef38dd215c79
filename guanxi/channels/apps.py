from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChannelsConfig(AppConfig):
    """Channels of the interaction centre (渠道): email, web chat, SMS and outbound lists, built on the contact
    centre's conversations and routing. The label is not ``channels``: Django Channels already has it."""

    name = "guanxi.channels"
    label = "guanxi_channels"
    verbose_name = _("Channels")
    default_auto_field = "django.db.models.BigAutoField"

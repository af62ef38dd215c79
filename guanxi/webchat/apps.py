from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebchatConfig(AppConfig):
    """Web chat (网页聊天): an embeddable widget whose chats go through the contact centre's queues and routing."""

    name = "guanxi.webchat"
    label = "webchat"
    verbose_name = _("Web chat")
    default_auto_field = "django.db.models.BigAutoField"

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TelephonyConfig(AppConfig):
    """Telephony (电话): provider-neutral call control, IVR, call records, voicemail and callbacks on real SIP."""

    name = "guanxi.telephony"
    label = "telephony"
    verbose_name = _("Telephony")
    default_auto_field = "django.db.models.BigAutoField"

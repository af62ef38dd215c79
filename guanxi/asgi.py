"""ASGI entry: HTTP (embedded mode serves everything here) and the real-time websocket routes."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "guanxi.settings")
django_asgi = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from guanxi.contact_center.realtime import websocket_urlpatterns as cc_websocket_urlpatterns  # noqa: E402
from guanxi.core.realtime import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns + cc_websocket_urlpatterns))
        ),
    }
)

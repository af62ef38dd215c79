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
from guanxi.webchat.consumers import websocket_urlpatterns as webchat_websocket_urlpatterns  # noqa: E402

_own_site_sockets = AllowedHostsOriginValidator(
    AuthMiddlewareStack(URLRouter(websocket_urlpatterns + cc_websocket_urlpatterns))
)
# the web chat widget's socket is opened from other sites' pages: it checks the origin against the widget's own
# allowed origins (guanxi.webchat.consumers), so it sits outside the same-host check, and needs no sign-in
_webchat_sockets = URLRouter(webchat_websocket_urlpatterns)


async def _websocket(scope, receive, send):  # type: ignore[no-untyped-def]
    app = _webchat_sockets if scope.get("path", "").startswith("/ws/webchat/") else _own_site_sockets
    return await app(scope, receive, send)


application = ProtocolTypeRouter({"http": django_asgi, "websocket": _websocket})

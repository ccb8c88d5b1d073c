"""ASGI entry point: HTTP to Django (but /health, csms.health), WebSockets to the OCPP consumer and the browsers' consumers.

No AllowedHostsOriginValidator on the OCPP route: charge points send no
Origin header (DESIGN.md trap 2). The browser routes (`ws/dashboard/`, the
frame console's `ws/console/<id>/`, a charge point page's "Now" panel
`ws/chargepoints/<id>/now/`) get the Origin check and the session
(AuthMiddlewareStack), on those routes only, and come first: the OCPP
routes end with a refusal of any path.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "csms.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import re_path  # noqa: E402

from chargepoints.console.routing import websocket_urlpatterns as console_urlpatterns  # noqa: E402
from chargepoints.dashboard.consumers import DashboardConsumer  # noqa: E402
from chargepoints.now.routing import websocket_urlpatterns as now_urlpatterns  # noqa: E402
from chargepoints.routing import websocket_urlpatterns  # noqa: E402
from csms.health import HEALTH_PATHS, asgi_health  # noqa: E402


async def http_application(scope, receive, send):
    """HTTP: /health answered before Django (it must answer while the ORM thread is stuck); the rest to Django."""
    if scope["path"] in HEALTH_PATHS:
        await asgi_health(scope, receive, send)
    else:
        await django_asgi_app(scope, receive, send)


browser_websocket_urlpatterns = [
    re_path(r"^ws/dashboard/$", AllowedHostsOriginValidator(AuthMiddlewareStack(DashboardConsumer.as_asgi()))),
]

application = ProtocolTypeRouter(
    {
        "http": http_application,
        # The browser routes first: the OCPP patterns end with a catch-all that refuses.
        "websocket": URLRouter([*browser_websocket_urlpatterns, *console_urlpatterns, *now_urlpatterns, *websocket_urlpatterns]),
    }
)

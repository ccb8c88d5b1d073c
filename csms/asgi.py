"""ASGI entry point: HTTP to Django, WebSockets to the OCPP consumer.

No AllowedHostsOriginValidator on the OCPP route: charge points send no
Origin header (DESIGN.md trap 2).
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "csms.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from chargepoints.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(websocket_urlpatterns),
    }
)

"""The "Now" panel's WebSocket route, for csms/asgi.py: before the OCPP routes (their last one refuses any other path).

AllowedHostsOriginValidator here only: charge points send no Origin header (DESIGN.md trap 2).
"""

from channels.auth import AuthMiddlewareStack
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import re_path

from .consumers import NowPanelConsumer

websocket_urlpatterns = [
    re_path(
        r"^ws/chargepoints/(?P<charge_point_id>[^/]+)/now/$",
        AllowedHostsOriginValidator(AuthMiddlewareStack(NowPanelConsumer.as_asgi())),
    ),
]

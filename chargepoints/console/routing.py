"""The console's WebSocket route, for csms/asgi.py: before the OCPP routes (their last one refuses any other path).

AllowedHostsOriginValidator here only: charge points send no Origin header (DESIGN.md trap 2).
"""

from channels.auth import AuthMiddlewareStack
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import re_path

from .consumers import ConsoleConsumer

websocket_urlpatterns = [
    re_path(
        r"^ws/console/(?P<charge_point_id>[^/]+)/$",
        AllowedHostsOriginValidator(AuthMiddlewareStack(ConsoleConsumer.as_asgi())),
    ),
]

"""WebSocket routes: /ocpp/<id> and /ocpp/<version>/<id>; anything else under /ocpp is refused."""

from django.urls import re_path

from .consumers import OcppConsumer, RejectConsumer

websocket_urlpatterns = [
    re_path(r"^ocpp/(?:(?P<version>1\.6|2\.0\.1)/)?(?P<charge_point_id>[^/]+)/?$", OcppConsumer.as_asgi()),
    re_path(r"", RejectConsumer.as_asgi()),
]

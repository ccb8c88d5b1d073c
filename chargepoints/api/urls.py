"""Routes of the charge point API, mounted under /api/v1/ by csms/urls.py."""

from rest_framework.routers import SimpleRouter

from .commands import CommandViewSet, command_urlpatterns
from .operations import operation_urlpatterns
from .security_events import SecurityEventViewSet
from .views import IDENTITY_URL_RE, ChargePointViewSet

# SimpleRouter, not DefaultRouter: its ".json" format-suffix routes would
# compete with identities that contain a dot.
router = SimpleRouter()
router.register("chargepoints", ChargePointViewSet, basename="chargepoint")
router.register("commands", CommandViewSet, basename="command")
router.register("security-events", SecurityEventViewSet, basename="security-event")

urlpatterns = [*command_urlpatterns(IDENTITY_URL_RE), *operation_urlpatterns(IDENTITY_URL_RE), *router.urls]

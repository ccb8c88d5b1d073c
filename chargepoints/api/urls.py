"""Routes of the charge point API, mounted under /api/v1/ by csms/urls.py."""

from rest_framework.routers import SimpleRouter

from . import history
from .certificates import CertificateViewSet
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
router.register("certificates", CertificateViewSet, basename="certificate")
router.register("status-notifications", history.StatusNotificationViewSet, basename="status-notification")
router.register("boot-notifications", history.BootNotificationViewSet, basename="boot-notification")
router.register("firmware-status-notifications", history.FirmwareStatusNotificationViewSet, basename="firmware-status-notification")
router.register(
    "diagnostics-status-notifications", history.DiagnosticsStatusNotificationViewSet, basename="diagnostics-status-notification"
)
router.register("data-transfers", history.DataTransferViewSet, basename="data-transfer")
router.register("charging-profiles", history.ChargingProfileViewSet, basename="charging-profile")

urlpatterns = [*command_urlpatterns(IDENTITY_URL_RE), *operation_urlpatterns(IDENTITY_URL_RE), *router.urls]

"""Routes of the charge point API, mounted under /api/v1/ by csms/urls.py."""

from rest_framework.routers import SimpleRouter

from .views import ChargePointViewSet

# SimpleRouter, not DefaultRouter: its ".json" format-suffix routes would
# compete with identities that contain a dot.
router = SimpleRouter()
router.register("chargepoints", ChargePointViewSet, basename="chargepoint")

urlpatterns = router.urls

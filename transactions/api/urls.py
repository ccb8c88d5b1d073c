"""Routes of the transaction and id tag APIs, mounted under /api/v1/ by csms/urls.py."""

from rest_framework.routers import SimpleRouter

from .views import IdTagViewSet, ReservationViewSet, TransactionViewSet

# SimpleRouter, not DefaultRouter: its ".json" format-suffix routes would
# compete with id tags that contain a dot.
router = SimpleRouter()
router.register("transactions", TransactionViewSet, basename="transaction")
router.register("id-tags", IdTagViewSet, basename="id-tag")
router.register("reservations", ReservationViewSet, basename="reservation")

urlpatterns = router.urls

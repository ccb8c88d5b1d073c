"""Routes of the webhook API, under /api/v1/webhooks/."""

from rest_framework.routers import SimpleRouter

from .api import SubscriptionViewSet

router = SimpleRouter()
router.register("webhooks/subscriptions", SubscriptionViewSet, basename="webhook-subscription")
urlpatterns = router.urls

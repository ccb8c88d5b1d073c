"""URL routes: the dashboard (/), admin, REST API (v1), OpenAPI schema and docs, health, the frame console."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from .api import api_not_found
from .health import health

# The admin's "View site" link: the operators' dashboard.
admin.site.site_url = "/"

urlpatterns = [
    path("", include("chargepoints.dashboard.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("chargepoints.api.urls")),
    path("api/v1/", include("transactions.api.urls")),
    path("api/v1/", include("accounts.urls")),
    path("api/v1/", include("webhooks.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    # Both spellings: monitors are configured by hand and APPEND_SLASH would answer 301.
    re_path(r"^health/?$", health, name="health"),
    # The live OCPP frame console of a charge point (also on its admin page).
    path("console/", include("chargepoints.console.urls")),
    # Last: any other path under /api/ is a JSON 404, never Django's HTML page.
    re_path(r"^api/", api_not_found),
]

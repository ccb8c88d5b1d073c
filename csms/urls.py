"""URL routes: admin, REST API (v1), OpenAPI schema and docs, health."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from .health import health

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("chargepoints.api.urls")),
    path("api/v1/", include("transactions.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    # Both spellings: monitors are configured by hand and APPEND_SLASH would answer 301.
    re_path(r"^health/?$", health, name="health"),
]

"""URL routes: admin, REST API (v1), OpenAPI schema, health."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
]

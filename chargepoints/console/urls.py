"""HTTP routes of the console; csms/urls.py includes them as `path("console/", include("chargepoints.console.urls"))`."""

from django.urls import path

from . import views

app_name = "console"

urlpatterns = [
    path("<path:charge_point_id>/", views.console_page, name="page"),
]

"""The dashboard's HTTP route (its WebSocket is routed in csms/asgi.py)."""

from django.urls import path

from . import views

urlpatterns = [path("", views.dashboard, name="dashboard")]

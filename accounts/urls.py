"""Routes of the token endpoints, under /api/v1/auth/."""

from django.urls import path

from . import api

urlpatterns = [
    path("auth/login/", api.LoginView.as_view(), name="api-login"),
    path("auth/logout/", api.LogoutView.as_view(), name="api-logout"),
    path("auth/tokens/", api.TokenListView.as_view(), name="api-tokens"),
    path("auth/tokens/<str:token_key>/", api.TokenDetailView.as_view(), name="api-token"),
]

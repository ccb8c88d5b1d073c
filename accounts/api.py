"""API token endpoints: log in for a token (shown once), log out, list and revoke one's own tokens.

    POST   /api/v1/auth/login/                {"username", "password"} → 201 {"token", "token_key", "expiry"}
    POST   /api/v1/auth/logout/               revoke the token of this request → 204
    GET    /api/v1/auth/tokens/               the caller's live tokens, without secrets
    DELETE /api/v1/auth/tokens/<token_key>/   revoke one of them (another device) → 204, 404 when none

Logins go through django.contrib.auth.authenticate, so the login lockout
(django-axes) counts their failures with the admin's; they are also
throttled per address (API_THROTTLE_LOGIN).
"""

from __future__ import annotations

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema, inline_serializer
from knox.models import AuthToken
from rest_framework import permissions, serializers, status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.response import Response
from rest_framework.views import APIView

from csms.api import StrictQueryParametersMixin

from . import selectors, services
from .throttling import LoginRateThrottle


class TokenOutput(serializers.ModelSerializer):
    """A token as listed: its first characters, when it was made and when it expires (null: never)."""

    class Meta:
        model = AuthToken
        fields = ["token_key", "created", "expiry"]


class LoginView(APIView):
    """Exchange a username and password for a new API token; the token is in this answer only."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]
    throttle_classes = [LoginRateThrottle]

    def get_authenticate_header(self, request):
        # No authentication classes here (an old token in the header must not stop a
        # login), but a wrong password is still 401, not 403.
        return "Token"

    class Input(serializers.Serializer):
        username = serializers.CharField()
        password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)

    @extend_schema(
        request=Input,
        responses={
            201: inline_serializer("LoginOutput", {"token": serializers.CharField(), **TokenOutput().get_fields()}),
            401: None,
        },
    )
    def post(self, request):
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        # The HttpRequest, not DRF's wrapper: django-axes marks it when it locks the address out.
        user = authenticate(request._request, username=data.validated_data["username"], password=data.validated_data["password"])
        if user is None or not user.is_active:
            raise AuthenticationFailed("Wrong username or password.")
        row, token = services.api_token_create(user=user)
        return Response({"token": token, **TokenOutput(row).data}, status=status.HTTP_201_CREATED)


class LogoutView(APIView):
    """Revoke the token this request authenticated with (a session has none: 204 all the same)."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        if isinstance(request.auth, AuthToken):
            services.api_token_delete(token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenListView(StrictQueryParametersMixin, APIView):
    """The caller's own live tokens, newest first, without their secrets.

    A plain list, not paged: a user holds a handful of tokens. Takes no query parameter (400 naming one).
    """

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses=TokenOutput(many=True))
    def get(self, request):
        return Response(TokenOutput(selectors.api_tokens_of(user=request.user), many=True).data)


class TokenDetailView(APIView):
    """Revoke one of the caller's tokens by its token_key."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses={204: None, 404: None})
    def delete(self, request, token_key: str):
        if not services.api_token_revoke(user=request.user, token_key=token_key):
            return Response({"detail": "No such token."}, status=status.HTTP_404_NOT_FOUND)
        return Response(status=status.HTTP_204_NO_CONTENT)

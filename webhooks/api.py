"""REST API for webhook subscriptions: /api/v1/webhooks/subscriptions/ (list, create, read, update, delete).

The secret is write-only after creation but for the creation answer, which
shows it once (a random one unless given).
"""

from __future__ import annotations

import django_filters
from rest_framework import serializers, status, viewsets
from rest_framework.response import Response

from csms.api import OrderingFilter, StrictQueryParametersMixin

from . import services
from .models import EVENT_TYPES, Subscription


class SubscriptionSerializer(serializers.ModelSerializer):
    """A subscription; `event_types` each one of the documented event types (empty: all)."""

    event_types = serializers.ListField(child=serializers.ChoiceField(choices=EVENT_TYPES), required=False)
    secret = serializers.CharField(write_only=True, required=False, min_length=16, max_length=100)

    class Meta:
        model = Subscription
        fields = ["id", "url", "event_types", "secret", "active", "description", "created_at"]
        read_only_fields = ["id", "created_at"]

    def validate_url(self, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise serializers.ValidationError("Use an http:// or https:// URL.")
        return value


class SubscriptionFilterSet(django_filters.FilterSet):
    """Query parameters of the list; an invalid value answers 400."""

    active = django_filters.BooleanFilter(help_text="Only active (true) or paused (false) subscriptions.")

    class Meta:
        model = Subscription
        fields = ["active"]


class SubscriptionViewSet(StrictQueryParametersMixin, viewsets.ModelViewSet):
    """CRUD of webhook subscriptions, oldest first, paginated (limit/offset); writes go through webhooks.services."""

    queryset = Subscription.objects.order_by("id")
    serializer_class = SubscriptionSerializer
    filterset_class = SubscriptionFilterSet
    filter_backends = [*viewsets.ModelViewSet.filter_backends, OrderingFilter]
    ordering_fields = ["id", "created_at", "url"]

    def create(self, request, *args, **kwargs):
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        subscription = services.subscription_create(**data.validated_data)
        return Response({**SubscriptionSerializer(subscription).data, "secret": subscription.secret}, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer):
        serializer.instance = services.subscription_update(subscription=serializer.instance, data=serializer.validated_data)

    def perform_destroy(self, instance):
        services.subscription_delete(subscription=instance)

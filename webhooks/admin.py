"""Admin for webhook subscriptions and the delivery log."""

from django.contrib import admin, messages
from django.db import models

from . import services
from .models import Delivery, Subscription


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    """Subscriptions: URL, event types, secret, active. Saved through services."""

    list_display = ["url", "active", "event_types", "description", "created_at"]
    list_filter = ["active"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in form.changed_data} if change else form.cleaned_data
        if change:
            services.subscription_update(subscription=obj, data=data)
        else:
            obj.pk = services.subscription_create(
                **{k: v for k, v in data.items() if k in ("url", "event_types", "active", "description", "secret")}
            ).pk

    def delete_model(self, request, obj):
        services.subscription_delete(subscription=obj)


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """The delivery log: each event to each subscription, its tries, last answer and next retry; read-only but for "retry"."""

    list_display = ["event", "subscription", "status", "attempts", "last_status_code", "last_error", "next_attempt_at", "delivered_at"]
    list_filter = ["status", "event__type"]
    list_select_related = ["event", "subscription"]
    actions = ["retry"]

    def has_add_permission(self, request):
        return False

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Delivery._meta.fields]

    @admin.action(description="Retry now", permissions=["change"])
    def retry(self, request, queryset):
        count = services.deliveries_retry(delivery_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{count} deliveries will be retried.", messages.SUCCESS)

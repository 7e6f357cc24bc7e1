"""The callback outbox in the admin: every event with its delivery attempts, read-only for everyone.

Auditors and Administrators see it; only Administrators (``api.retry_callbackevent``) may make
events due again at once ("Retry now"). Nobody adds, edits or deletes an event or an attempt: they
are the record of what each key was told, and when.
"""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.utils.html import format_html

from api.callbacks.delivery import events_retry_now
from api.models import CallbackDelivery, CallbackEvent, CallbackState
from contacts.services import log_activity
from core.actors import Actor
from core.admin_tools import ReadOnlyAdminMixin

RETRY_PERMISSION = "api.retry_callbackevent"


class CallbackDeliveryInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = CallbackDelivery
    fields = ["attempted_at", "status_code", "error", "duration_ms"]
    readonly_fields = fields
    ordering = ["attempted_at", "pk"]
    extra = 0


@admin.register(CallbackEvent)
class CallbackEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "event_id",
        "type",
        "key",
        "state",
        "attempts",
        "created_at",
        "next_attempt_at",
        "delivered_at",
        "last_error",
    ]
    list_filter = ["state", "type", "key"]
    list_select_related = ["key"]
    search_fields = ["=event_id"]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-pk"]
    fields = [
        "event_id",
        "type",
        "key",
        "state",
        "attempts",
        "created_at",
        "next_attempt_at",
        "delivered_at",
        "last_error",
        "data",
    ]
    readonly_fields = fields
    inlines = [CallbackDeliveryInline]
    actions = ["retry_now"]

    @admin.display(description="data (the event's payload)")
    def data(self, obj: CallbackEvent) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2, ensure_ascii=False))

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm(RETRY_PERMISSION)

    @admin.action(description="Retry now (one more attempt at once)", permissions=["retry"])
    def retry_now(self, request, queryset):
        if not self.has_retry_permission(request):  # checked again: the action may be posted by hand
            self.message_user(request, "You may not retry callback events.", messages.ERROR)
            return
        selected = list(queryset.values_list("pk", "event_id", "state"))
        retried = events_retry_now(pk for pk, _, _ in selected)
        delivered = sum(state == CallbackState.DELIVERED for _, _, state in selected)
        if retried:
            log_activity(
                actor=Actor.for_user(request.user),
                action="callback.retried",
                details={"event_ids": [str(e) for _, e, s in selected if s != CallbackState.DELIVERED]},
            )
        note = f" {delivered} already delivered, left alone." if delivered else ""
        self.message_user(request, f"{retried} event(s) due now; the deliverer was woken.{note}")

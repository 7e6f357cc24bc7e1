"""The support inbox in the admin: the conversation list is the changelist, a conversation's thread
is its change page. Each is built in its own module (``views_list``, ``views_thread``); this class
only routes to them, so the admin's permissions, menus and site wrapping apply to both.
"""

from django.contrib import admin

from core.admin_tools import ReadOnlyAdminMixin
from inbox import (
    admin_canned,  # noqa: F401  (registers the canned replies admin)
    views_list,
    views_thread,
)
from inbox.models import Conversation


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Conversations are made by messages, changed through the inbox's own actions, never deleted."""

    def get_urls(self):
        return [*views_list.urls(self), *views_thread.urls(self), *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        return views_list.conversation_list(self, request)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return views_thread.conversation_thread(self, request, object_id)

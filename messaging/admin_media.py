"""Media files in the admin: a read-only list, and the one view that serves a file — to staff only.

Files live in default storage under ``whatsapp-media/`` and are never under a public MEDIA_URL:
a person's photo or document is served only through :meth:`MessageMediaAdmin.file_view`, behind
the admin's login and ``messaging.view_messagemedia``. The answer is built so that a hostile
file cannot act in the admin's origin: the stored type with ``nosniff``, ``Content-Security-Policy:
sandbox`` (no script, no same origin), and ``inline`` only for images, video and audio of the
types WhatsApp sends; anything else downloads as an attachment.
"""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpResponse
from django.template import engines
from django.urls import path, reverse
from django.utils.html import format_html

from core.admin_tools import ReadOnlyAdminMixin, is_id
from messaging.media import MEDIA_LIMITS
from messaging.models import MediaDirection, MediaKind, MessageMedia

# Shown inline (a preview in the thread): the image, video, audio and sticker types of MEDIA_LIMITS.
INLINE_TYPES = frozenset(
    mime
    for kind in (MediaKind.IMAGE, MediaKind.VIDEO, MediaKind.AUDIO, MediaKind.STICKER)
    for mime in MEDIA_LIMITS[kind].types
)
_UNAVAILABLE = engines["django"].from_string(
    """{% extends "admin/base_site.html" %}
{% block title %}Media not available{% endblock %}
{% block content %}<h1>This media file is not available</h1><p>{{ reason }}</p>{% endblock %}"""
)


@admin.register(MessageMedia)
class MessageMediaAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "direction", "kind", "mime_type", "size", "state", "file_link"]
    list_filter = ["direction", "kind"]
    search_fields = ["=media_id", "filename"]
    list_select_related = ["inbound"]
    show_full_result_count = False
    fields = [
        "media_id",
        "direction",
        "kind",
        "inbound",
        "mime_type",
        "size",
        "sha256",
        "filename",
        "file_link",
        "uploaded_by",
        "created_at",
        "downloaded_at",
        "purged_at",
        "attempts",
        "next_attempt_at",
        "error",
    ]
    readonly_fields = fields

    def get_urls(self):
        view = self.admin_site.admin_view(self.file_view, cacheable=True)
        return [
            path("<path:object_id>/file/", view, name="messaging_messagemedia_file"),
            *super().get_urls(),
        ]

    @admin.display(description="state")
    def state(self, obj: MessageMedia) -> str:
        return unavailable_reason(obj) or "kept"

    @admin.display(description="file")
    def file_link(self, obj: MessageMedia) -> str:
        if not obj.available:
            return "—"
        url = reverse("admin:messaging_messagemedia_file", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, obj.filename or "open")

    def file_view(self, request, object_id: str):
        """The file itself; a clear 404 page when there is none to serve."""
        if not request.user.has_perm("messaging.view_messagemedia"):
            raise PermissionDenied
        media = MessageMedia.objects.filter(pk=int(object_id)).first() if is_id(object_id) else None
        reason = unavailable_reason(media) if media is not None else "There is no such media file."
        if reason:
            return self._unavailable(request, reason)
        try:
            file = media.file.open("rb")
        except (FileNotFoundError, OSError):
            return self._unavailable(request, "The file is missing from storage.")
        inline = media.mime_type in INLINE_TYPES
        response = FileResponse(
            file,
            content_type=media.mime_type,
            as_attachment=not inline,
            filename=media.filename or f"{media.kind}-{media.pk}",
        )
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "sandbox"
        response["Cache-Control"] = "private"
        response["Vary"] = "Cookie"
        return response

    def _unavailable(self, request, reason: str) -> HttpResponse:
        context = {**self.admin_site.each_context(request), "reason": reason}
        response = HttpResponse(_UNAVAILABLE.render(context, request), status=404)
        response["Cache-Control"] = "private, no-store"
        return response


def unavailable_reason(media: MessageMedia) -> str:
    """Why a media row has no file to show ("" when it has one): what the inbox says instead."""
    if media.purged_at is not None:
        return f"It was deleted on {media.purged_at:%Y-%m-%d} after the retention period."
    if media.file:
        return ""
    if media.direction == MediaDirection.INBOUND and media.next_attempt_at is not None:
        return "It is still being downloaded from WhatsApp." + (
            f" The last attempt failed: {media.error}" if media.error else ""
        )
    return f"It could not be downloaded from WhatsApp. {media.error}".strip()

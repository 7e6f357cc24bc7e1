"""Canned replies in the admin: Editors write them, Support picks them in the composer.

A variable the inbox cannot fill is refused when the reply is saved (naming it), so an agent never
sends "Hello {{frist_name}}". What an agent may send is a change worth knowing about: additions and
changes go to the activity log (``cannedreply.added``, ``cannedreply.changed``).
"""

from django import forms
from django.contrib import admin

from contacts.admin import ActivityLoggedAdmin
from contacts.languages import META_LANGUAGES
from core.errors import ApplicationError
from inbox.models import CannedReply
from inbox.services import CANNED_VARIABLES, check_canned_body


class CannedReplyForm(forms.ModelForm):
    language = forms.ChoiceField(choices=sorted(META_LANGUAGES.items(), key=lambda item: item[1]))

    class Meta:
        model = CannedReply
        fields = ["title", "language", "body", "active"]
        help_texts = {
            "body": "Variables: " + ", ".join(f"{{{{{name}}}}}" for name in CANNED_VARIABLES) + ".",
        }

    def clean_body(self):
        body = self.cleaned_data["body"]
        try:
            check_canned_body(body)
        except ApplicationError as exc:
            raise forms.ValidationError(exc.message, code=exc.code) from exc
        if not body.strip():
            raise forms.ValidationError("The reply is empty.", code="canned_empty")
        return body


@admin.register(CannedReply)
class CannedReplyAdmin(ActivityLoggedAdmin):
    form = CannedReplyForm
    list_display = ["title", "language", "active", "updated_at"]
    list_filter = ["language", "active"]
    search_fields = ["title", "body"]

    # Switch a reply off instead: the activity log may name it.
    def has_delete_permission(self, request, obj=None):
        return False

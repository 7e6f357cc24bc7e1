"""API keys in the admin: Administrators create, change and revoke them; Auditors read.

The raw key (and a new callback secret) is rendered once, in the answer to the form that made
it — not through the messages framework (its cookie storage would carry the key to the browser
again and again), not in a URL, not in a log. Keys are never deleted: they are the actors on
ledger rows. Every write goes through ``api.keys``.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.utils.html import format_html_join

from api.keys import (
    api_key_create,
    api_key_revoke,
    api_key_rotate_callback_secret,
    api_key_update,
    clean_callback_url,
    clean_name,
    clean_scopes,
)
from api.models import KEY_PREFIX, ApiKey, Scope
from core.actors import Actor
from core.errors import ApplicationError

SHOWN_ONCE_TEMPLATE = "admin/api/apikey/shown_once.html"
CONFIRM_TEMPLATE = "admin/api/apikey/confirm_action.html"


def _through(check, value):
    """A service's check as a form field's: its ApplicationError becomes the field's error."""
    try:
        return check(value)
    except ApplicationError as exc:
        raise ValidationError(exc.message, code=exc.code) from exc


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="What this key may do. Give it only what the system needs.",
    )
    callback_url = forms.URLField(
        label="Callback URL",
        max_length=ApiKey._meta.get_field("callback_url").max_length,
        required=False,
        assume_scheme="https",
        help_text=ApiKey._meta.get_field("callback_url").help_text,
    )

    class Meta:
        model = ApiKey
        fields = ["name", "scopes", "callback_url"]

    def clean_name(self):
        return _through(clean_name, self.cleaned_data["name"])

    def clean_scopes(self):
        return _through(clean_scopes, self.cleaned_data["scopes"])

    def clean_callback_url(self):
        return _through(clean_callback_url, self.cleaned_data["callback_url"])


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = ["name", "shown_prefix", "shown_scopes", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix"]
    actions = ["revoke_keys", "rotate_callback_secret"]
    info_fields = ["shown_prefix", "created_at", "created_by", "last_used_at", "revoked_at", "revoked_by"]

    @admin.display(description="key", ordering="prefix")
    def shown_prefix(self, key: ApiKey) -> str:
        return f"{KEY_PREFIX}{key.prefix}…"

    @admin.display(description="scopes")
    def shown_scopes(self, key: ApiKey) -> str:
        return format_html_join(", ", "<code>{}</code>", ((scope,) for scope in key.scopes))

    def get_fields(self, request, obj=None):
        return ["name", "scopes", "callback_url"] + (self.info_fields if obj is not None else [])

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.info_fields

    def has_change_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.revoked_at is not None:
            return False  # a revoked key is not changed (api.keys): its page is read-only
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # keys are actors in ledgers and logs

    # --- writes, through the services --------------------------------------------------------

    def save_model(self, request, obj, form, change):
        actor = Actor.for_user(request.user)
        data = form.cleaned_data
        if not change:
            key, raw = api_key_create(
                name=data["name"], scopes=data["scopes"], actor=actor, callback_url=data["callback_url"]
            )
            obj.pk, obj.prefix, obj.key_hash = key.pk, key.prefix, key.key_hash
            obj._state.adding = False
            request.api_key_shown_once = {"raw_key": raw, "callback_secret": key.callback_secret}
            return
        old_secret = ApiKey.objects.get(pk=obj.pk).callback_secret
        key = api_key_update(
            key=obj, actor=actor, name=data["name"], scopes=data["scopes"], callback_url=data["callback_url"]
        )
        if key.callback_secret and key.callback_secret != old_secret:  # a first one, or a moved URL's
            request.api_key_shown_once = {"callback_secret": key.callback_secret}

    def response_add(self, request, obj, post_url_continue=None):
        return self._shown_once(request, obj) or super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        return self._shown_once(request, obj) or super().response_change(request, obj)

    def _shown_once(self, request, key: ApiKey, **secrets) -> TemplateResponse | None:
        secrets = secrets or getattr(request, "api_key_shown_once", None)
        if not secrets:
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "key": key,
            "title": f"Copy the secrets of {key.name} now",
            **secrets,
        }
        response = TemplateResponse(request, SHOWN_ONCE_TEMPLATE, context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke the selected keys (for good)", permissions=["change"])
    def revoke_keys(self, request, queryset):
        active = list(queryset.filter(revoked_at__isnull=True))
        if not active:
            self.message_user(request, "The selected keys are already revoked.", messages.WARNING)
            return None
        if request.POST.get("confirmed") != "yes":
            return self._confirm(
                request,
                active,
                action="revoke_keys",
                question="Revoke these keys? Every call they make will be refused from now on, and a "
                "revoked key cannot be restored: the system using it needs a new key.",
                button="Yes, revoke",
            )
        actor = Actor.for_user(request.user)
        revoked = []
        for key in active:
            try:
                revoked.append(api_key_revoke(key=key, actor=actor))
            except ApplicationError as exc:  # revoked meanwhile by someone else
                self.message_user(request, exc.message, messages.WARNING)
        if revoked:
            names = ", ".join(str(key) for key in revoked)
            self.message_user(request, f"Revoked: {names}.", messages.SUCCESS)
        return None

    @admin.action(description="Rotate the callback secret of the selected key", permissions=["change"])
    def rotate_callback_secret(self, request, queryset):
        keys = list(queryset)
        if len(keys) != 1:
            self.message_user(
                request, "Select exactly one key to rotate its callback secret.", messages.ERROR
            )
            return None
        key = keys[0]
        if request.POST.get("confirmed") != "yes":
            return self._confirm(
                request,
                keys,
                action="rotate_callback_secret",
                question="Make a new callback secret? Callbacks are signed with the new secret at once: "
                "the receiving system must be given it before it can check them again.",
                button="Yes, make a new secret",
            )
        try:
            secret = api_key_rotate_callback_secret(key=key, actor=Actor.for_user(request.user))
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return None
        return self._shown_once(request, key, callback_secret=secret)

    def _confirm(self, request, keys, *, action: str, question: str, button: str) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "keys": keys,
            "action": action,
            "question": question,
            "button": button,
            "title": "Are you sure?",
        }
        return TemplateResponse(request, CONFIRM_TEMPLATE, context)

"""Staff accounts in the admin: Administrators manage them within the four roles other than their
own; only a superuser manages Administrators' accounts, hands out the Administrator role, superuser
rights, individual permissions or other groups, or shapes the roles.

Django's stock ``UserAdmin`` lets anyone with ``auth.change_user`` reset a superuser's password
and put themselves in every group. Here every way in — the change form, the password form, the
add form, bulk actions, the Group admin — asks :mod:`accounts.services`, and every change goes through
its services, which write the activity log.
"""

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import reverse

from accounts.services import (
    GRANTABLE_ROLES,
    account_create,
    account_deactivate,
    account_groups_set,
    account_password_reset,
    account_permissions_set,
    account_refusal,
    account_update,
)
from core.actors import Actor
from core.admin_tools import CheckedSelectionMixin
from core.errors import ApplicationError
from core.roles import ROLES


class StaffUserAdmin(CheckedSelectionMixin, UserAdmin):
    list_display = ["username", "first_name", "last_name", "roles", "is_superuser", "is_active"]
    list_filter = ["is_staff", "is_active", "groups"]
    actions = ["deactivate"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description="roles")
    def roles(self, obj):
        return ", ".join(sorted(group.name for group in obj.groups.all())) or "—"

    # --- Who may change what -----------------------------------------------------------------

    def has_change_permission(self, request, obj=None):
        if not super().has_change_permission(request, obj):
            return False
        return obj is None or account_refusal(actor=request.user, target=obj) is None

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and account_refusal(actor=request.user, target=obj) is not None:
            # Read-only to this actor: no "Reset password" button leading to a refusal.
            fieldsets = [
                (name, {**options, "fields": [f for f in options["fields"] if f != "password"]})
                for name, options in fieldsets
            ]
        return fieldsets

    def change_view(self, request, object_id, form_url="", extra_context=None):
        target = self.get_object(request, unquote(object_id))
        refusal = account_refusal(actor=request.user, target=target) if target is not None else None
        if refusal is not None and request.method == "GET":
            self.message_user(request, f"{refusal.message} This page is read-only for you.", messages.INFO)
        return super().change_view(request, object_id, form_url, extra_context)

    def has_delete_permission(self, request, obj=None):
        # Accounts are deactivated, not deleted: their history (consent recorded, messages sent)
        # points at them. A superuser may still delete one that has none.
        return request.user.is_superuser and super().has_delete_permission(request, obj)

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            readonly += ["is_superuser", "user_permissions", "last_login", "date_joined"]
            if obj is not None and obj.pk == request.user.pk:
                readonly += ["groups", "is_active", "is_staff"]
        return readonly

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "groups" and not request.user.is_superuser:
            kwargs["queryset"] = Group.objects.filter(name__in=GRANTABLE_ROLES).order_by("name")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.is_superuser:
            actions.pop("delete_selected", None)
        return actions

    # --- Every change through the account services (and so into the activity log) ---------------

    def save_model(self, request, obj, form, change):
        actor = Actor.for_user(request.user)
        try:
            if change:
                account_update(actor=actor, user=obj)
            else:
                account_create(actor=actor, user=obj)
        except ApplicationError as exc:
            # The form cannot offer these changes; a crafted POST gets a 403 and nothing is saved.
            raise PermissionDenied(exc.message) from exc

    def save_related(self, request, form, formsets, change):
        groups = form.cleaned_data.pop("groups", None)
        permissions = form.cleaned_data.pop("user_permissions", None)
        super().save_related(request, form, formsets, change)
        actor = Actor.for_user(request.user)
        try:
            if groups is not None:
                account_groups_set(actor=actor, user=form.instance, groups=groups)
            if permissions is not None:
                account_permissions_set(actor=actor, user=form.instance, permissions=permissions)
        except ApplicationError as exc:
            raise PermissionDenied(exc.message) from exc

    def user_change_password(self, request, id, form_url=""):
        """Django's password form, saved through ``account_password_reset`` (refusals, the log)."""
        user = self.get_object(request, unquote(id))
        refusal = account_refusal(actor=request.user, target=user) if user is not None else None
        if refusal is not None:
            raise PermissionDenied(refusal.message)  # the 403 page says why
        if user is None or request.method != "POST" or not self.has_change_permission(request, user):
            return super().user_change_password(request, id, form_url)  # 404, 403 or the form
        form = self.change_password_form(user, request.POST)
        if not form.is_valid() or not (
            form.cleaned_data["set_usable_password"] or "unset-password" in request.POST
        ):
            return super().user_change_password(request, id, form_url)  # the form with its errors
        password = form.cleaned_data["password1"] if form.cleaned_data["set_usable_password"] else None
        try:
            account_password_reset(actor=Actor.for_user(request.user), user=user, password=password)
        except ApplicationError as exc:
            raise PermissionDenied(exc.message) from exc
        self.log_change(request, user, self.construct_change_message(request, form, None))
        update_session_auth_hash(request, user)
        self.message_user(
            request,
            "Password changed successfully." if password else "Password-based authentication was disabled.",
        )
        return HttpResponseRedirect(reverse(f"{self.admin_site.name}:auth_user_change", args=[user.pk]))

    @admin.action(description="Deactivate selected accounts", permissions=["change"])
    def deactivate(self, request, queryset):
        actor = Actor.for_user(request.user)
        done = 0
        # Staff accounts are few; each refusal (a superuser, your own account) is reported by name.
        for user in queryset:
            try:
                account_deactivate(actor=actor, user=user)
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(request, f"{done} account(s) deactivated.")


class RoleGroupAdmin(GroupAdmin):
    """The roles are the migrations' to shape: only a superuser edits groups, and no one renames or
    deletes one of the five roles (migrations and code find them by name)."""

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser and (obj is None or obj.name not in ROLES)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # it would not ask which groups are roles
        return actions

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.name in ROLES:
            readonly.append("name")
        return readonly


admin.site.unregister(User)
admin.site.register(User, StaffUserAdmin)
admin.site.unregister(Group)
admin.site.register(Group, RoleGroupAdmin)

"""Staff accounts: Administrators manage them, but only a superuser can hand out superuser rights
or permissions outside the roles."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User

admin.site.site_header = "WhatsApp back-office"
admin.site.site_title = "WhatsApp back-office"
admin.site.index_title = "Consent-first WhatsApp messaging"


class StaffUserAdmin(UserAdmin):
    list_filter = ["is_staff", "is_active", "groups"]

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            readonly += ["is_superuser", "user_permissions", "last_login", "date_joined"]
        return readonly


admin.site.unregister(User)
admin.site.register(User, StaffUserAdmin)

"""What every compliance report's admin page shares: read-only, behind the export permission."""

from django.contrib import admin

from compliance.models import EXPORT_PERMISSION


class ReadOnlyBehindExport(admin.ModelAdmin):
    """Seen by whoever may export compliance reports; nothing is ever added, changed or deleted."""

    def has_module_permission(self, request):
        return request.user.has_perm(EXPORT_PERMISSION)

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm(EXPORT_PERMISSION)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

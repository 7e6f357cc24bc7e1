"""Admin building blocks shared by every app's admin."""

from django.conf import settings
from django.core.paginator import Paginator
from django.db import DatabaseError, connections
from django.utils.functional import cached_property


class EstimatedCountPaginator(Paginator):
    """Counts exactly when the list is filtered or small; estimates an unfiltered large table.

    ``SELECT COUNT(*)`` over a million-row table costs a full scan on PostgreSQL on every page
    view. For the unfiltered list the planner's statistics (``pg_class.reltuples``) are close
    enough for a paginator. The same trick healthchecks uses for its largest table.
    """

    @cached_property
    def count(self) -> int:
        query = getattr(self.object_list, "query", None)
        if query is not None and not query.where:
            estimate = self._estimate(self.object_list)
            if estimate is not None and estimate >= settings.ADMIN_ESTIMATED_COUNT_THRESHOLD:
                return estimate
        return super().count

    @staticmethod
    def _estimate(queryset) -> int | None:
        connection = connections[queryset.db]
        if connection.vendor != "postgresql":
            return None
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                    [queryset.model._meta.db_table],
                )
                row = cursor.fetchone()
        except DatabaseError:
            return None
        # -1 means "never analysed": fall back to counting.
        return row[0] if row and row[0] >= 0 else None


class ReadOnlyAdminMixin:
    """For ledgers and logs: viewable by whoever may view them, never added, changed or deleted."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

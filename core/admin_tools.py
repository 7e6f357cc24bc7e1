"""Admin building blocks shared by every app's admin."""

from django.conf import settings
from django.contrib import messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import DatabaseError, connections
from django.utils.functional import cached_property


def is_id(text: str) -> bool:
    """Whether ``text`` from a URL or a form is a row id: ASCII digits, short enough for a bigint.

    Not ``text.isdigit()`` alone: it is True for "²" or "①", which ``int()`` refuses (a 500)."""
    return isinstance(text, str) and text.isascii() and text.isdigit() and len(text) < 19


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


class CheckedSelectionMixin:
    """An action posted with a selection that holds something other than this model's ids (a
    forged or garbled form: ``abc``, an id beyond the column's range) gets a message, not a 500.

    Django's own ``response_action`` filters by the posted ids as they come, and the database
    refuses the value with an error the admin does not catch.
    """

    def response_action(self, request, queryset):
        key = self.model._meta.pk
        try:
            for value in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME):
                key.clean(value, None)
        except ValidationError:
            self.message_user(
                request,
                f"The selection holds a value that is not the id of a {self.model._meta.verbose_name}: "
                "nothing was done. Reload the list and select again.",
                messages.ERROR,
            )
            return None  # the changelist redirects back to itself
        return super().response_action(request, queryset)


class ReadOnlyAdminMixin(CheckedSelectionMixin):
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

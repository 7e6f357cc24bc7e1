"""Scopes: each view names the scope each method needs; a key without it gets 403."""

from rest_framework import permissions

from api.authentication import ApiClient


class HasScope(permissions.BasePermission):
    """``required_scopes`` on the view: a dict of HTTP method → scope (``"*"`` for any method)."""

    message = "This API key lacks the scope this call needs."

    def has_permission(self, request, view) -> bool:
        if not isinstance(request.user, ApiClient):
            return False
        scopes = getattr(view, "required_scopes", {})
        scope = scopes.get(request.method) or scopes.get("*")
        if scope is None:
            return False  # a view that names no scope for a method is closed, not open
        if request.user.key.has_scope(scope):
            return True
        self.message = f"This API key lacks the scope “{scope}”."
        return False

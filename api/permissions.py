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
        method = "GET" if request.method == "HEAD" else request.method  # HEAD is a GET without the body
        if method.lower() not in view.http_method_names or not hasattr(view, method.lower()):
            return True  # nothing would run: let the view answer 405 Method Not Allowed
        scope = scopes.get(method) or scopes.get("*")
        if scope is None:
            return False  # a view that names no scope for a method is closed, not open
        if request.user.key.has_scope(scope):
            return True
        self.message = f"This API key lacks the scope “{scope}”."
        return False

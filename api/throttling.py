"""Per-key throttling in the shared cache (the database cache table, or Redis with ``REDIS_URL``),
never in process memory: every web process counts the same calls."""

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from api.authentication import ApiClient


class KeyRateThrottle(SimpleRateThrottle):
    scope = "api_key"

    def get_rate(self):
        return settings.API_THROTTLE_RATE

    def get_cache_key(self, request, view):
        if not isinstance(request.user, ApiClient):
            return None  # refused by authentication anyway
        return self.cache_format % {"scope": self.scope, "ident": request.user.key.pk}

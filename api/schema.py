"""How the OpenAPI schema describes the API: the bearer key, and the one error shape.

Each view lists its error answers with ``error_responses(...)`` so clients generated from the
schema know the shape (``api.errors``) of every refusal, not only of the success.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key created by an Administrator: `Authorization: Bearer wak_…`.",
        }


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable and machine-readable: branch on it.")
    message = serializers.CharField(help_text="For people; may change.")
    field = serializers.CharField(required=False, help_text="Where the problem is, when in one place.")
    details = serializers.DictField(
        required=False, help_text="More about it; a 400 lists every field under `fields`."
    )


ErrorSerializer = inline_serializer("Error", fields={"error": ErrorDetailSerializer()})

_MEANINGS = {
    400: "The request is not valid: `error.field` names where (`invalid`, `malformed_request`).",
    401: "No key, an unknown key or a revoked key (`not_authenticated`, `invalid_key`); "
    "the answer carries `WWW-Authenticate: Bearer`.",
    403: "The key lacks the scope this call needs (`missing_scope`).",
    404: "No such object (`not_found`).",
    415: "The body is not JSON (`unsupported_media_type`): send `Content-Type: application/json`.",
    409: "A request with this `Idempotency-Key` is still being handled.",
    422: "Refused by a rule; `error.code` says which.",
    429: "Too many calls with this key (`throttled`); wait `Retry-After` seconds.",
}


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """The error answers of a view, for ``extend_schema(responses={..., **error_responses(...)})``.
    401, 403 and 429 are every authenticated view's, so they are always included."""
    wanted = sorted({401, 403, 429, *statuses})
    return {status: OpenApiResponse(ErrorSerializer, description=_MEANINGS[status]) for status in wanted}

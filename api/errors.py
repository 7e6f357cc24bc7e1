"""One JSON shape for every error the API returns, with a stable machine-readable code.

    {"error": {"code": "no_consent", "message": "…", "field": "contact", "details": {…}}}

``code`` is stable (clients branch on it); ``message`` is for people and may change; ``field``
says where the problem is, when it is in one place; validation errors list every field under
``details.fields``. Services refuse with ``core.errors.ApplicationError``, which becomes a 422.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import ApplicationError

# DRF's exception → (stable code) for the ones clients meet.
_CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "invalid_key",
    exceptions.PermissionDenied: "missing_scope",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.ParseError: "malformed_request",
    exceptions.Throttled: "throttled",
    exceptions.ValidationError: "invalid",
}


class ApiError(exceptions.APIException):
    """An error with its own status and code, raised by the API's own code (idempotency, …)."""

    def __init__(self, message: str, *, code: str, status_code: int, field: str | None = None, details=None):
        super().__init__(message, code)
        self.status_code = status_code
        self.error_code = code
        self.field = field
        self.details = details or {}


def error_body(code: str, message: str, *, field: str | None = None, details: dict | None = None) -> dict:
    body = {"code": code, "message": message}
    if field:
        body["field"] = field
    if details:
        body["details"] = details
    return {"error": body}


def exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        return Response(
            error_body(exc.code, exc.message, field=exc.field, details=exc.details),
            status=status.HTTP_422_UNPROCESSABLE_ENTITY,
        )
    if isinstance(exc, RequestDataTooBig):
        # Django refuses the body before any parser sees it; its own answer would be an HTML 400.
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return Response(
            error_body(
                "body_too_large",
                f"The request body is larger than {limit:,} bytes; send fewer items per call.",
                details={"limit_bytes": limit},
            ),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # an unexpected error: Django's handler logs it
    if isinstance(exc, ApiError):
        response.data = error_body(exc.error_code, str(exc.detail), field=exc.field, details=exc.details)
        return response
    code = next((code for kind, code in _CODES.items() if isinstance(exc, kind)), "error")
    if isinstance(exc, exceptions.ValidationError):
        fields = flatten_errors(exc.detail)
        first_field, first_message = next(iter(fields.items()), ("", "The request is not valid."))
        response.data = error_body(
            code,
            f"{first_field}: {first_message}" if first_field else first_message,
            field=first_field or None,
            details={"fields": fields},
        )
        return response
    response.data = error_body(code, str(exc.detail))
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        response.data["error"]["details"] = {"retry_after": int(exc.wait + 0.999)}
    return response


def flatten_errors(detail, prefix: str = "") -> dict[str, str]:
    """DRF's nested error detail as {"field.sub.0": "first message"}: where, then what."""
    if isinstance(detail, dict):
        out = {}
        for key, value in detail.items():
            name = key if key != "non_field_errors" else ""
            out.update(flatten_errors(value, f"{prefix}.{name}".strip(".") if name else prefix))
        return out
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return {prefix: str(detail[0])} if detail else {}
        out = {}
        for index, item in enumerate(detail):
            if item:
                out.update(flatten_errors(item, f"{prefix}.{index}".strip(".")))
        return out
    return {prefix: str(detail)}

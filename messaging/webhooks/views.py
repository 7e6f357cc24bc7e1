"""/webhooks/whatsapp/: the verify handshake (GET) and signed events (POST) — see docs/webhooks.md.

Thin and paranoid (STYLE.md, 8): read the raw body with this view's own size limit, verify the
signature over those exact bytes, store them, answer 200. Processing happens from the stored row
(``messaging.webhooks.processing``), so a signed body is never lost and a forged one changes
nothing.
"""

import hmac
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from cloud_api.signatures import SIGNATURE_HEADER, app_secrets, verify_signature
from messaging.webhooks.receiving import webhook_event_receive

logger = logging.getLogger(__name__)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def whatsapp_webhook(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _handshake(request)
    return _receive(request)


def _handshake(request: HttpRequest) -> HttpResponse:
    """Meta's subscription check: echo ``hub.challenge`` raw when the verify token is ours."""
    token = request.GET.get("hub.verify_token", "")
    expected = settings.WHATSAPP_VERIFY_TOKEN or ""
    if (
        request.GET.get("hub.mode") == "subscribe"
        and expected
        and hmac.compare_digest(token.encode(), expected.encode())
    ):
        return HttpResponse(request.GET.get("hub.challenge", ""), content_type="text/plain")
    return HttpResponse("Forbidden: wrong verify token or mode.", status=403, content_type="text/plain")


def _receive(request: HttpRequest) -> HttpResponse:
    limit = settings.WHATSAPP_WEBHOOK_MAX_BYTES
    body = _read_body(request, limit)
    if body is None:
        return HttpResponse(
            f"Payload too large: the limit is {limit} bytes.", status=413, content_type="text/plain"
        )
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not verify_signature(body, signature, app_secrets()):
        reason = "missing" if not signature else "wrong"
        logger.warning("webhook refused: %s signature (%d bytes)", reason, len(body))
        return HttpResponse(f"Forbidden: {reason} {SIGNATURE_HEADER}.", status=403, content_type="text/plain")
    webhook_event_receive(body=body, signature=signature)
    return HttpResponse("OK", content_type="text/plain")


def _read_body(request: HttpRequest, limit: int) -> bytes | None:
    """The raw body read from the stream, or None when it is over ``limit``.

    ``request.body`` would apply DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB, site-wide); Meta sends up to
    3 MB, so this view reads the stream itself with its own limit instead of raising it for all.
    """
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return None
    body = request.read(limit + 1)
    return None if len(body) > limit else body

"""The ``Idempotency-Key`` request header (IETF draft "The Idempotency-Key HTTP Header Field").

A client that is not sure its POST arrived (a timeout, a dropped connection) sends it again with
the same key; the second request must not queue a second message or record a second consent event.

- The key is claimed with an INSERT in a transaction of its own, committed *before* the work, so a
  concurrent request with the same key — in another process, on another host — meets the unique
  constraint (API key, idempotency key) instead of a check that both could pass.
- Same key, same request (method, path and canonical JSON body: the fingerprint) → the first
  answer again, status and body, with ``Idempotent-Replayed: true`` (the draft names no such
  header; it is the one clients know from Stripe's API).
- Same key, another request → 422 ``idempotency_key_reused``; the first still in flight → 409
  ``idempotency_request_in_flight`` (the draft's two error cases).
- Which answers are kept: every 2xx and 4xx the endpoint gave once the key was claimed (a
  validation error or a refusal is that request's final answer: fix the request, use a new key).
  Requests refused before the claim — no or a bad API key, a missing scope, throttling, malformed
  JSON, a bad ``Idempotency-Key`` — claim nothing. A 5xx or an unexpected exception releases the
  key, so the retry the client is bound to make runs again.
- A process that dies mid-request never answers: its key counts as in flight for
  ``IN_FLIGHT_LEASE`` (five minutes), then is claimed again.
- Kept ``API_IDEMPOTENCY_TTL`` hours; an expired record counts as absent (it is replaced), and
  an hourly schedule deletes the expired ones (:func:`idempotency_records_purge`).

Releasing a key on a crash leaves a gap: the work may have committed before the crash. The
endpoints close it underneath: each passes :func:`work_key` on to the service (``send_message``'s
``idempotency_key``, ``record_consent``'s ``signal_key``), which is unique in the database, so
the retry finds the message or event the first attempt left instead of adding a second.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from api.errors import ApiError
from api.models import ApiKey, IdempotencyRecord, IdempotencyState

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_LENGTH = 255  # the record's column; the draft sets no limit
PURGE_SCHEDULE_NAME = "api: purge expired idempotency records"
# A request still in flight after this long was abandoned (its process killed or restarted): its
# key is claimed again. Far longer than a send takes, and than gunicorn's default worker timeout
# (30 s), after which gunicorn kills the worker anyway.
IN_FLIGHT_LEASE = timedelta(minutes=5)


@dataclass(frozen=True)
class Claim:
    """A key this request holds (``record``), or the earlier answer to give instead (``replay``)."""

    record: IdempotencyRecord | None = None
    replay: Response | None = None


def idempotent(handler):
    """Make a view's POST handler honour ``Idempotency-Key`` (absent: the handler runs as it is).

    The handler may read ``request.idempotency`` (the claimed record, or None) to pass
    :func:`work_key` on to its service.
    """

    @functools.wraps(handler)
    def wrapper(view, request, *args, **kwargs):
        raw = request.headers.get(HEADER)
        request.idempotency = None
        if raw is None:
            return handler(view, request, *args, **kwargs)
        idempotency_key = parse_key(raw)
        claim = claim_key(
            key=request.auth, idempotency_key=idempotency_key, fingerprint=request_fingerprint(request)
        )
        if claim.replay is not None:
            return claim.replay
        request.idempotency = claim.record
        try:
            try:
                response = handler(view, request, *args, **kwargs)
            except Exception as exc:
                # The error's JSON answer, as DRF would give it; an unexpected error is re-raised.
                response = view.handle_exception(exc)
        except BaseException:
            release(claim.record)
            raise
        try:
            if response.status_code >= 500:
                release(claim.record)
            else:
                complete(claim.record, response)
        except BaseException:
            release(claim.record)  # an answer that could not be kept: let the retry run
            raise
        return response

    return wrapper


def parse_key(raw: str) -> str:
    """The key itself: the draft writes it as a quoted structured-field string; a bare one is taken too."""
    value = raw.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    if not value:
        raise ApiError(
            f"The {HEADER} header is empty; send a unique value per request, e.g. a UUID.",
            code="idempotency_key_invalid",
            status_code=status.HTTP_400_BAD_REQUEST,
            field=HEADER,
        )
    if len(value) > MAX_LENGTH:
        raise ApiError(
            f"The {HEADER} header has {len(value)} characters; at most {MAX_LENGTH} are kept.",
            code="idempotency_key_invalid",
            status_code=status.HTTP_400_BAD_REQUEST,
            field=HEADER,
        )
    if not all(" " <= ch <= "~" for ch in value):
        raise ApiError(
            f"The {HEADER} header may hold printable ASCII characters only.",
            code="idempotency_key_invalid",
            status_code=status.HTTP_400_BAD_REQUEST,
            field=HEADER,
        )
    return value


def request_fingerprint(request) -> str:
    """SHA-256 of the method, the path with its query and the body as canonical JSON (sorted keys,
    no spaces), so the same request written with other spacing or key order is the same request.
    Reading ``request.data`` here refuses malformed JSON (400) before anything is claimed."""
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    text = "\n".join([request.method, request.get_full_path(), body])
    return hashlib.sha256(text.encode()).hexdigest()


def claim_key(*, key: ApiKey, idempotency_key: str, fingerprint: str) -> Claim:
    """Claim ``idempotency_key`` for this request, or say what to answer instead."""
    now = timezone.now()
    expires_at = now + timedelta(hours=settings.API_IDEMPOTENCY_TTL)
    for _ in range(3):  # an expired record is removed and the claim tried again
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    key=key,
                    idempotency_key=idempotency_key,
                    fingerprint=fingerprint,
                    created_at=now,
                    expires_at=expires_at,
                )
            return Claim(record=record)
        except IntegrityError:
            pass
        existing = IdempotencyRecord.objects.filter(key=key, idempotency_key=idempotency_key).first()
        if existing is None:
            continue  # released or purged in between: claim again
        if existing.expires_at <= now:
            IdempotencyRecord.objects.filter(pk=existing.pk, expires_at__lte=now).delete()
            continue
        if existing.state == IdempotencyState.IN_FLIGHT and existing.created_at <= now - IN_FLIGHT_LEASE:
            # Its process died mid-request (killed, restarted): nobody will answer it.
            IdempotencyRecord.objects.filter(
                pk=existing.pk, state=IdempotencyState.IN_FLIGHT, created_at__lte=now - IN_FLIGHT_LEASE
            ).delete()
            continue
        return Claim(replay=_answer_to_repeat(existing, fingerprint))
    raise ApiError(
        f"The {HEADER} “{idempotency_key}” is being claimed and released by other requests; try again.",
        code="idempotency_request_in_flight",
        status_code=status.HTTP_409_CONFLICT,
        field=HEADER,
    )


def _answer_to_repeat(record: IdempotencyRecord, fingerprint: str) -> Response:
    if record.fingerprint != fingerprint:
        raise ApiError(
            f"The {HEADER} “{record.idempotency_key}” was used for another request (a different "
            "method, path or body). Use a new key for a new request.",
            code="idempotency_key_reused",
            status_code=status.HTTP_422_UNPROCESSABLE_ENTITY,
            field=HEADER,
        )
    if record.state != IdempotencyState.DONE:
        raise ApiError(
            f"A request with the {HEADER} “{record.idempotency_key}” is still being processed; "
            "repeat it once that one has answered.",
            code="idempotency_request_in_flight",
            status_code=status.HTTP_409_CONFLICT,
            field=HEADER,
        )
    return Response(record.response_body, status=record.response_status, headers={REPLAYED_HEADER: "true"})


def complete(record: IdempotencyRecord, response: Response) -> None:
    """Keep the answer for the repeats: its status and its body as the client received it."""
    body = json.loads(JSONRenderer().render(response.data)) if response.data is not None else None
    IdempotencyRecord.objects.filter(pk=record.pk, state=IdempotencyState.IN_FLIGHT).update(
        state=IdempotencyState.DONE, response_status=response.status_code, response_body=body
    )


def release(record: IdempotencyRecord) -> None:
    """Forget a key whose request failed on our side, so that the client's retry runs."""
    IdempotencyRecord.objects.filter(pk=record.pk, state=IdempotencyState.IN_FLIGHT).delete()


def work_key(request, kind: str) -> str:
    """The key the service stores with what it creates (a message, a consent event) for a request
    with an ``Idempotency-Key``; empty without one.

    Per API key, so two keys' clients never share one; with the request's fingerprint, so a key
    reused for another request after its record expired queues something new. At most 90
    characters (``send_message``'s column holds 200, ``record_consent``'s signal key 200).
    """
    record = getattr(request, "idempotency", None)
    if record is None:
        return ""
    digest = hashlib.sha256(f"{record.idempotency_key}\n{record.fingerprint}".encode()).hexdigest()
    return f"api:{kind}:{record.key_id}:{digest}"


def idempotency_records_purge(*, now=None) -> int:
    """Delete expired records (they already count as absent); returns how many went."""
    deleted, _ = IdempotencyRecord.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted

"""Delivering the outbox: due events in batches, one signed POST each, retried with backoff.

One task (``api.tasks.deliver_callbacks``) runs at a time per wake-up, as the batch dispatcher does:
woken after the commit of a change that wrote events (an awake flag added atomically in the shared
cache), and every minute by a schedule, which picks up retries. It claims up to ``BATCH`` due events
(``SKIP LOCKED``), leasing them by moving ``next_attempt_at`` forward — on SQLite, whose
transactions take the write lock at once, the lease alone keeps two workers apart —, groups them by
key and posts each. A worker that dies leaves its events due again when the lease ends: delivery is
at least once, and receivers drop repeats by event id.

Before each key's deliveries its URL is checked again (``check_callback_url``), and the requests go
to an address that check resolved and accepted, with the URL's host name as ``Host`` and for TLS
(SNI and the certificate), so a name that resolves to a private address a moment later (DNS
rebinding) reaches nothing. No redirect is followed; one short deadline bounds each whole POST. A
2xx answer delivers the event; anything else (or no answer) is retried with exponential backoff
and jitter, until ``API_CALLBACK_MAX_ATTEMPTS`` or ``API_CALLBACK_GIVE_UP_HOURS`` after the event;
then it is given up. A key that stops answering costs one timeout per batch: its other events wait
for the next try. A revoked key's events are given up, never sent.
"""

from __future__ import annotations

import contextlib
import http.client
import math
import random
import socket
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import certifi
import urllib3
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django_q.tasks import async_task
from urllib3.util.ssl_match_hostname import CertificateError

from api.callbacks.signing import (
    ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    callback_body,
    iso_instant,
    signature,
)
from api.callbacks.targets import check_callback_url
from api.models import ApiKey, CallbackDelivery, CallbackEvent, CallbackState

DELIVER_TASK = "api.tasks.deliver_callbacks"
AWAKE_KEY = "api:callbacks-awake"
AWAKE_SECONDS = 30  # the flag outlives a silent deliverer by this much, then expires
BATCH = 100
LEASE = timedelta(minutes=2)  # longer than a batch can take: BATCH answers, one timeout per key
RUN_SECONDS = 40.0  # well below django-q2's task timeout: then a fresh task takes over
RETRY_BASE_SECONDS = 60
RETRY_MAX_SECONDS = 60 * 60
ANSWER_READ_BYTES = 1024  # of a failed answer, for the admin
USER_AGENT = "whatsapp-backoffice-callbacks/1"


# --- Waking ----------------------------------------------------------------------------------


def wake_deliverer() -> bool:
    """Queue a deliverer unless one is awake; True when one was queued. Called after the commit."""
    if cache.get(AWAKE_KEY) or not cache.add(AWAKE_KEY, True, AWAKE_SECONDS):
        return False
    async_task(DELIVER_TASK, task_name="deliver callbacks", group="callbacks", save=False)
    return True


# --- The run ---------------------------------------------------------------------------------


@dataclass
class Tally:
    delivered: int = 0
    failed: int = 0
    gave_up: int = 0
    postponed: int = 0

    def add(self, other: Tally) -> None:
        for name in ("delivered", "failed", "gave_up", "postponed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def __str__(self) -> str:
        return (
            f"{self.delivered} delivered, {self.failed} failed (to retry), {self.gave_up} given up, "
            f"{self.postponed} postponed"
        )


def deliver_due(*, run_seconds: float = RUN_SECONDS) -> str:
    """Deliver batch after batch until nothing is due, then sleep; hand over after ``run_seconds``."""
    started = time.monotonic()
    tally = Tally()
    cache.set(AWAKE_KEY, True, AWAKE_SECONDS)
    try:
        while time.monotonic() - started < run_seconds:
            token, events = claim_due()
            if events:
                cache.set(AWAKE_KEY, True, AWAKE_SECONDS)  # still awake
                tally.add(deliver_claimed(events, token=token, stop_at=started + run_seconds))
                continue
            cache.delete(AWAKE_KEY)
            # An event written between our last claim and dropping the flag found us awake: look again.
            if not _due().exists() or not cache.add(AWAKE_KEY, True, AWAKE_SECONDS):
                return str(tally)
    except BaseException:
        cache.delete(AWAKE_KEY)  # a dead deliverer must not look awake; the schedule starts another
        raise
    cache.delete(AWAKE_KEY)
    if _due().exists():
        wake_deliverer()
    return f"{tally}; handed over to a fresh task"


def _due(now: datetime | None = None):
    return CallbackEvent.objects.filter(
        state=CallbackState.PENDING, next_attempt_at__lte=now or timezone.now()
    )


def claim_due(*, limit: int = BATCH, now: datetime | None = None) -> tuple[datetime, list[CallbackEvent]]:
    """Lease up to ``limit`` due events: (the lease's end, which is also the claim's token; the events).
    Each claimed event's attempt is counted now; those not posted after all get it back."""
    now = now or timezone.now()
    token = now + LEASE
    with transaction.atomic():
        ids = list(
            _due(now)
            .select_for_update(skip_locked=True)
            .order_by("next_attempt_at", "pk")
            .values_list("pk", flat=True)[:limit]
        )
        if not ids:
            return token, []
        # The attempt counts when claimed, so a run killed mid-POST (django-q's task timeout) still
        # spends one of the event's attempts: an event that kills every run is given up in the end.
        CallbackEvent.objects.filter(pk__in=ids, state=CallbackState.PENDING).update(
            next_attempt_at=token, attempts=F("attempts") + 1
        )
    events = list(CallbackEvent.objects.filter(pk__in=ids).select_related("key").order_by("pk"))
    return token, events


def deliver_claimed(events: list[CallbackEvent], *, token: datetime, stop_at: float = math.inf) -> Tally:
    """Post each claimed event, key by key, and record what happened. Slow receivers cannot make a
    batch outlive its lease (another worker would take the events again) nor the run (``stop_at``,
    a ``time.monotonic()``): what is left then is released, due at once, for the next claim."""
    tally = Tally()
    by_key: dict[int, list[CallbackEvent]] = defaultdict(list)
    for event in events:
        by_key[event.key_id].append(event)
    deadline = min(time.monotonic() + LEASE.total_seconds() / 2, stop_at)
    for key_events in by_key.values():
        if time.monotonic() > deadline:
            tally.postponed += _postpone(key_events, token=token, until=timezone.now())
            continue
        tally.add(_deliver_for_key(key_events[0].key, key_events, token=token, deadline=deadline))
    return tally


def _deliver_for_key(
    key: ApiKey, events: list[CallbackEvent], *, token: datetime, deadline: float = math.inf
) -> Tally:
    tally = Tally()
    stopped = _why_not_deliverable(key)
    if stopped:
        tally.gave_up += _give_up(events, token=token, reason=stopped)
        return tally
    try:
        addresses = check_callback_url(key.callback_url)
    except ValidationError as exc:
        # Refused before any connection: each event's attempt says why, and is retried later (the
        # setting or the name may change) until it is given up like any failed delivery.
        reason = f"Not sent: {' '.join(exc.messages)}"
        for event in events:
            _record(event, token=token, answer=Answer(error=reason), tally=tally)
        return tally
    # One key's share of the batch: no POST starts after it, so a slow receiver holds back the
    # other keys by at most two timeouts; its remaining events are released for the next claim.
    deadline = min(deadline, time.monotonic() + settings.API_CALLBACK_TIMEOUT_SECONDS)
    # IPv4 first where a name has both: a worker without an IPv6 route would fail on every event.
    receiver = _Receiver(key.callback_url, min(addresses, key=lambda address: address.version))
    for index, event in enumerate(events):
        if index and time.monotonic() > deadline:
            tally.postponed += _postpone(events[index:], token=token, until=timezone.now())
            break
        answer = receiver.post(event, secret=key.callback_secret)
        next_try = _record(event, token=token, answer=answer, tally=tally)
        if answer.status_code is None:
            # No answer at all: the key's other events wait with this one (or, when it was given
            # up, a first backoff) instead of each spending a timeout now. Not attempts of theirs.
            until = next_try or timezone.now() + retry_delay(1)
            tally.postponed += _postpone(events[index + 1 :], token=token, until=until)
            break
    return tally


def _why_not_deliverable(key: ApiKey) -> str:
    if key.revoked_at is not None:
        return f"The API key was revoked on {key.revoked_at:%Y-%m-%d %H:%M} UTC: its callbacks are dropped."
    if not key.callback_url:
        return "The API key no longer has a callback URL."
    if not key.callback_secret:
        return "The API key has no callback secret to sign with."
    return ""


# --- One request -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status_code: int | None = None
    error: str = ""
    duration_ms: int = 0

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class _Receiver:
    """POSTs to one checked address of a callback URL's host, with its name as ``Host`` and, over
    HTTPS, for SNI and the certificate check.

    Each POST is a fresh connection with one wall-clock deadline, ``API_CALLBACK_TIMEOUT_SECONDS``,
    for the whole exchange: socket timeouts bound each read, not their sum, so a receiver trickling
    its answer a byte at a time would otherwise hold the deliverer for as long as it likes. At the
    deadline a timer shuts the socket down. Of the answer we read the status, the headers and, of a
    refusal, at most ``ANSWER_READ_BYTES``; then the connection is closed, never drained."""

    def __init__(self, url: str, address):
        parts = urlsplit(url)
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.host_header = parts.netloc.rpartition("@")[2]
        self.address = str(address)
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.hostname = parts.hostname
        self.https = parts.scheme == "https"

    def _connection(self, seconds: float):
        timeout = min(seconds, 3.0)  # to connect; then each read's, under the exchange's deadline
        if self.https:
            return urllib3.connection.HTTPSConnection(
                self.address,
                self.port,
                timeout=timeout,
                cert_reqs="CERT_REQUIRED",
                ca_certs=certifi.where(),
                server_hostname=self.hostname,
                assert_hostname=self.hostname,
            )
        return urllib3.connection.HTTPConnection(self.address, self.port, timeout=timeout)

    def post(self, event: CallbackEvent, *, secret: str) -> Answer:
        body = callback_body(
            event_id=str(event.event_id),
            type=event.type,
            created_at=iso_instant(event.created_at),
            data=event.payload,
        )
        timestamp = str(int(time.time()))
        headers = {
            "Host": self.host_header,
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Connection": "close",
            ID_HEADER: str(event.event_id),
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(secret, timestamp, body),
        }
        seconds = settings.API_CALLBACK_TIMEOUT_SECONDS
        conn = self._connection(seconds)
        cut = threading.Event()

        def cut_off() -> None:
            cut.set()
            if conn.sock is not None:  # set before the TLS handshake too
                with contextlib.suppress(OSError):
                    conn.sock.shutdown(socket.SHUT_RDWR)

        timer = threading.Timer(seconds, cut_off)
        timer.daemon = True
        started = time.monotonic()
        timer.start()
        try:
            conn.connect()
            if cut.is_set():
                raise TimeoutError("the exchange's deadline passed while connecting")
            conn.timeout = seconds
            conn.request("POST", self.path, body=body, headers=headers, preload_content=False)
            response = conn.getresponse()
            status = response.status
            error = "" if 200 <= status < 300 else _refusal(status, response)
        except CertificateError as exc:  # the certificate does not name the URL's host
            return Answer(error=_describe(urllib3.exceptions.SSLError(exc)), duration_ms=_since(started))
        except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as exc:
            return Answer(error=_describe(exc, timed_out=cut.is_set()), duration_ms=_since(started))
        finally:
            timer.cancel()
            conn.close()
        return Answer(status_code=status, error=error, duration_ms=_since(started))


def _refusal(status: int, response) -> str:
    if 300 <= status < 400:
        return f"HTTP {status}: redirects are not followed (Location: {response.headers.get('Location', '')})"
    try:
        text = response.read(ANSWER_READ_BYTES, decode_content=False).decode("utf-8", "replace").strip()
    except (urllib3.exceptions.HTTPError, OSError):  # cut off by the deadline: the status is enough
        text = ""
    return f"HTTP {status}" + (f": {text[:300]}" if text else "")


def _describe(exc: Exception, *, timed_out: bool = False) -> str:
    # A refused connection is a NewConnectionError, which urllib3 derives from its timeout error.
    if timed_out or (
        isinstance(exc, (urllib3.exceptions.TimeoutError, TimeoutError))
        and not isinstance(exc, urllib3.exceptions.NewConnectionError)
    ):
        return f"No answer within {settings.API_CALLBACK_TIMEOUT_SECONDS:g} s (timeout)."
    reason = getattr(exc, "reason", None) or exc
    return f"Could not connect: {type(reason).__name__}: {reason}"[:500]


def _since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


# --- Recording -------------------------------------------------------------------------------


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff with jitter: 30–60 s after the first failure, then 1–2 min, 2–4 min, …
    up to 30–60 minutes."""
    ceiling = min(RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), RETRY_MAX_SECONDS)
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))


def _record(event: CallbackEvent, *, token: datetime, answer: Answer, tally: Tally) -> datetime | None:
    """The attempt's row, and the event delivered, due again, or given up — only while our lease
    stands (one that ran out belongs to whoever claimed the event since). Returns the next try's
    time when there is one."""
    now = timezone.now()
    attempts = event.attempts  # counted when the event was claimed
    ours = CallbackEvent.objects.filter(pk=event.pk, state=CallbackState.PENDING, next_attempt_at=token)
    next_try = None
    with transaction.atomic():
        CallbackDelivery.objects.create(
            event=event,
            attempted_at=now,
            status_code=answer.status_code,
            error=answer.error[:500],
            duration_ms=answer.duration_ms,
        )
        if answer.delivered:
            tally.delivered += ours.update(state=CallbackState.DELIVERED, delivered_at=now, last_error="")
            return None
        next_try = now + retry_delay(attempts)
        give_up_at = event.created_at + timedelta(hours=settings.API_CALLBACK_GIVE_UP_HOURS)
        if attempts >= settings.API_CALLBACK_MAX_ATTEMPTS or next_try > give_up_at:
            tally.gave_up += ours.update(
                state=CallbackState.GAVE_UP,
                last_error=f"Gave up after {attempts} attempts: {answer.error}"[:500],
            )
            return None
        tally.failed += ours.update(next_attempt_at=next_try, last_error=answer.error[:500])
    return next_try


def _postpone(events: list[CallbackEvent], *, token: datetime, until: datetime) -> int:
    """Release claimed events unsent: due at ``until``, their claim's attempt given back."""
    return CallbackEvent.objects.filter(
        pk__in=[e.pk for e in events], state=CallbackState.PENDING, next_attempt_at=token
    ).update(next_attempt_at=until, attempts=F("attempts") - 1)


def _give_up(events: list[CallbackEvent], *, token: datetime, reason: str) -> int:
    """Give up claimed events unsent (their claim's attempt given back: none was made)."""
    return CallbackEvent.objects.filter(
        pk__in=[e.pk for e in events], state=CallbackState.PENDING, next_attempt_at=token
    ).update(state=CallbackState.GAVE_UP, last_error=reason[:500], attempts=F("attempts") - 1)


# --- Staff -----------------------------------------------------------------------------------


def events_retry_now(event_ids) -> int:
    """One more attempt at once for events not delivered (the admin's "retry now"), given-up ones
    included; should it fail past the limits, the event is given up again. Returns how many; wakes a
    deliverer after the commit."""
    now = timezone.now()
    with transaction.atomic():
        changed = (
            CallbackEvent.objects.filter(pk__in=list(event_ids))
            .exclude(state=CallbackState.DELIVERED)
            .update(state=CallbackState.PENDING, next_attempt_at=now)
        )
        if changed:
            transaction.on_commit(wake_deliverer)
    return changed

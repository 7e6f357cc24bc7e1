"""Signed webhook delivery from a background queue, batching, duplicating and retrying like Meta.

Sends only put events on a time-ordered heap, so a slow or absent receiver never slows a send's
answer. A dispatcher takes every event that is due, wraps up to ``webhook_batch_max`` of them into
one body (all statuses in one ``statuses[]``), signs the exact bytes and POSTs them. A body that is
not answered 200 is resent unchanged with exponential backoff (capped, jittered) for up to
``webhook_retry_for`` seconds, as Meta does for up to 7 days; a receiver that is not there yet
(our webhook view comes in a later issue) produces one log line, not one per attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import json
import logging
import random
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, NamedTuple

import aiohttp

from cloud_api.sandbox.config import SandboxConfig
from cloud_api.sandbox.events import WebhookEvent
from cloud_api.signatures import SIGNATURE_HEADER, signature_header

logger = logging.getLogger(__name__)

METADATA_FIELDS = ("messages", "user_preferences")


@dataclass
class _Batch:
    """A body already built and signed: retries resend the very same bytes."""

    body: bytes
    event_count: int
    first_attempt_at: float
    attempt: int = 0


class _Due(NamedTuple):
    """A heap entry: ordered by due time, then by arrival (plain tuples keep the heap cheap)."""

    at: float
    seq: int
    payload: WebhookEvent | _Batch
    duplicable: bool


class WebhookSender:
    def __init__(self, config: SandboxConfig, rng: random.Random):
        self._config = config
        self._rng = rng
        self._heap: list[_Due] = []
        self._seq = itertools.count()
        self._closing = False
        self._wake = asyncio.Event()
        self._in_flight = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._receiver_down = False
        self.attempts: deque[dict[str, Any]] = deque(maxlen=config.webhook_log_limit)
        self.delivered_bodies = 0
        self.dropped_bodies = 0

    # --- Scheduling (called from request handlers; never blocks) ----------------------------

    def schedule(self, event: WebhookEvent, delay: float = 0.0, *, duplicable: bool = True) -> None:
        if not self._config.webhook_url:
            return
        heapq.heappush(
            self._heap, _Due(time.monotonic() + max(delay, 0.0), next(self._seq), event, duplicable)
        )
        self._wake.set()

    @property
    def pending(self) -> int:
        """Events and bodies not yet accepted by the receiver (or given up)."""
        return len(self._heap) + self._in_flight

    # --- Running ----------------------------------------------------------------------------

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._config.webhook_timeout),
            connector=aiohttp.TCPConnector(limit=self._config.webhook_concurrency),
        )
        self._runner = asyncio.create_task(self._dispatch_forever())

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        tasks = [*self._tasks, *(t for t in [self._runner] if t)]
        for task in tasks:
            task.cancel()
        # Bounded: on Python 3.11 ``wait_for`` can swallow a cancellation that races its timeout,
        # so the dispatch loop also checks ``_closing``; never wait forever for a stubborn task.
        if tasks:
            await asyncio.wait(tasks, timeout=2.0)
        if self._session:
            await self._session.close()

    async def _dispatch_forever(self) -> None:
        while not self._closing:
            now = time.monotonic()
            if not self._heap or self._heap[0].at > now:
                timeout = (self._heap[0].at - now) if self._heap else None
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
                continue
            if self._in_flight >= self._config.webhook_concurrency:
                # Back-pressure on the queue only: sends keep being answered meanwhile.
                self._wake.clear()
                await self._wake.wait()
                continue
            self._start_delivery(self._take_due(now))

    def _take_due(self, now: float) -> _Batch:
        first = heapq.heappop(self._heap)
        if isinstance(first.payload, _Batch):
            return first.payload
        events = [first]
        while (
            self._heap
            and self._heap[0].at <= now + self._config.webhook_batch_window
            and not isinstance(self._heap[0].payload, _Batch)
            and len(events) < self._config.webhook_batch_max
        ):
            events.append(heapq.heappop(self._heap))
        for due in events:
            if due.duplicable and self._rng.random() < self._config.duplicate_rate:
                self.schedule(due.payload, self._rng.uniform(0.05, 0.5), duplicable=False)
        return _Batch(
            body=self._envelope([due.payload for due in events]),
            event_count=len(events),
            first_attempt_at=time.monotonic(),
        )

    def _envelope(self, events: list[WebhookEvent]) -> bytes:
        config = self._config
        metadata = {
            "display_phone_number": config.display_phone_number,
            "phone_number_id": config.phone_number_id,
        }
        statuses = [e.item for e in events if e.kind == "status"]
        changes: list[dict[str, Any]] = []
        if statuses:
            changes.append(
                {
                    "field": "messages",
                    "value": {"messaging_product": "whatsapp", "metadata": metadata, "statuses": statuses},
                }
            )
        for event in events:
            if event.kind == "message":
                value = {
                    "messaging_product": "whatsapp",
                    "metadata": metadata,
                    "contacts": [event.contact],
                    "messages": [event.item],
                }
                changes.append({"field": "messages", "value": value})
            elif event.kind == "other":
                value = dict(event.item)
                if event.field in METADATA_FIELDS:
                    value["metadata"] = metadata
                changes.append({"field": event.field, "value": value})
        entry = {"id": config.business_account_id, "time": int(time.time()), "changes": changes}
        return json.dumps({"object": "whatsapp_business_account", "entry": [entry]}).encode()

    def _start_delivery(self, batch: _Batch) -> None:
        self._in_flight += 1
        task = asyncio.create_task(self._deliver(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, batch: _Batch) -> None:
        config = self._config
        batch.attempt += 1
        status: int | None = None
        error = ""
        signature = signature_header(batch.body, config.app_secret)
        try:
            assert self._session is not None and config.webhook_url
            headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature}
            async with self._session.post(config.webhook_url, data=batch.body, headers=headers) as response:
                status = response.status
                await response.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        finally:
            self._in_flight -= 1
            self._wake.set()
        self.attempts.append(
            {
                "at": time.time(),
                "attempt": batch.attempt,
                "status": status,
                "error": error,
                "events": batch.event_count,
                "signature": signature,
                "body": batch.body.decode(),
            }
        )
        if status == 200:
            self.delivered_bodies += 1
            if self._receiver_down:
                logger.info("Webhook receiver %s accepts deliveries again", config.webhook_url)
                self._receiver_down = False
            return
        if not self._receiver_down:
            logger.info(
                "Webhook receiver %s did not accept a delivery (%s); retrying with backoff, as Meta does",
                config.webhook_url,
                status or error,
            )
            self._receiver_down = True
        self._retry_later(batch)

    def _retry_later(self, batch: _Batch) -> None:
        config = self._config
        if time.monotonic() - batch.first_attempt_at > config.webhook_retry_for:
            self.dropped_bodies += 1
            logger.warning("Dropping a webhook body after %s attempts", batch.attempt)
            return
        backoff = min(config.webhook_retry_initial * 2 ** (batch.attempt - 1), config.webhook_retry_max)
        delay = backoff * self._rng.uniform(0.8, 1.2)
        heapq.heappush(self._heap, _Due(time.monotonic() + delay, next(self._seq), batch, False))
        self._wake.set()

"""Many sends at once: the Cloud API over aiohttp, for the batch dispatcher.

A ``requests`` thread pool reaches about 600–800 sends per second here; aiohttp with a few dozen
requests in flight reaches several thousand, so the bulk path is asyncio. Django's worker code is
synchronous, so the asyncio side lives on one dedicated event-loop thread per process: a
:class:`BulkSender` starts it with one ``ClientSession`` (one connection pool), and
:meth:`BulkSender.send_many` hands a batch to that loop and blocks until every outcome is in. The
pool is reused across batches and closed at exit.

Outcomes are exactly those of :class:`cloud_api.client.CloudApiClient.send`: answers are read by the
same functions (:mod:`cloud_api.answers`), and aiohttp's exceptions map to the outcomes the
``requests`` client gives for the same failure:

- nothing listening, no route, DNS, connect timeout → :class:`NotSent` (the request never left);
- read timeout, connection dropped or reset after connecting, TLS failure → :class:`OutcomeUnknown`
  (``requests`` reports a TLS failure as a connection error after connecting, so it is unknown on
  both paths);
- an answer → :func:`cloud_api.answers.read_answer` (Meta's error JSON → ``Refused``, 504 and a 2xx
  without a message id → ``OutcomeUnknown``).

Nothing is retried here: whether a retry is safe is exactly what the outcome tells the caller.
After ``fork`` (django-q2 starts its workers that way) a sender inherited from the parent has no
loop thread; :meth:`BulkSender.usable` says so and the client starts a new one.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING

import aiohttp

from cloud_api.answers import read_answer, send_outcome
from cloud_api.outcomes import NotSent, OutcomeUnknown, SendOutcome
from cloud_api.payloads import Payload

if TYPE_CHECKING:
    from cloud_api.client import CloudApiConfig


class BulkSender:
    """One event-loop thread and one aiohttp session; safe to call from many threads."""

    def __init__(self, config: CloudApiConfig):
        if config.send_concurrency < 1:
            raise ValueError(f"send_concurrency must be at least 1, got {config.send_concurrency}")
        self.config = config
        self._url = "/".join((config.base_url, config.api_version, config.phone_number_id, "messages"))
        self._pid = os.getpid()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="cloud-api-bulk-sender", daemon=True
        )
        self._thread.start()
        self._session, self._in_flight = asyncio.run_coroutine_threadsafe(self._open(), self._loop).result()
        atexit.register(self.close)

    async def _open(self) -> tuple[aiohttp.ClientSession, asyncio.Semaphore]:
        concurrency = self.config.send_concurrency
        # sock_connect bounds the TCP (and TLS) handshake and sock_read each wait for answer bytes, like
        # requests' (connect, read) pair; no total timeout and no pool wait timeout, so a request queued
        # behind the semaphore is never mistaken for a slow connection.
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=None,
            sock_connect=self.config.connect_timeout,
            sock_read=self.config.read_timeout,
        )
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency, limit_per_host=0),
            timeout=timeout,
            headers={"Authorization": f"Bearer {self.config.access_token}"},
            raise_for_status=False,
        )
        return session, asyncio.Semaphore(concurrency)

    def usable(self) -> bool:
        """False in a forked child (the loop thread stayed in the parent) or once closed."""
        return self._pid == os.getpid() and self._thread.is_alive() and not self._loop.is_closed()

    def close(self) -> None:
        """Close the pool and stop the loop thread; safe to call twice (and at exit)."""
        atexit.unregister(self.close)
        if not self.usable() or not self._loop.is_running():
            return
        asyncio.run_coroutine_threadsafe(self._session.close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def send_many(
        self, payloads: Sequence[Payload], *, not_before: Sequence[float] | None = None
    ) -> list[SendOutcome]:
        """Send every payload; the outcomes in the same order.

        Request ``i`` leaves no earlier than ``not_before[i]`` (a ``time.time()`` instant: the
        limiter's slot) and requests leave in the order of their slots, at most ``send_concurrency``
        in flight. Without ``not_before`` they leave at once, as fast as the concurrency allows.
        """
        return self.start_many(payloads, not_before=not_before).result()

    def start_many(
        self, payloads: Sequence[Payload], *, not_before: Sequence[float] | None = None
    ) -> Future[list[SendOutcome]]:
        """:meth:`send_many` without waiting: the outcomes come in the returned future, so the caller
        can prepare its next requests while these are in flight."""
        if not_before is not None and len(not_before) != len(payloads):
            raise ValueError(
                f"not_before has {len(not_before)} instants for {len(payloads)} payloads; "
                "give one per payload"
            )
        if not payloads:
            done: Future[list[SendOutcome]] = Future()
            done.set_result([])
            return done
        return asyncio.run_coroutine_threadsafe(self._send_all(payloads, not_before), self._loop)

    async def _send_all(
        self, payloads: Sequence[Payload], not_before: Sequence[float] | None
    ) -> list[SendOutcome]:
        outcomes: list[SendOutcome | None] = [None] * len(payloads)
        order = range(len(payloads))
        if not_before is not None:
            order = sorted(order, key=lambda i: not_before[i])
        tasks = []
        for i in order:
            if not_before is not None:
                # asyncio's timers run on the monotonic clock and may fire a hair early: check the wall clock.
                while (wait := not_before[i] - time.time()) > 0:
                    await asyncio.sleep(wait)
            await self._in_flight.acquire()
            tasks.append(asyncio.create_task(self._send_one(i, payloads[i], outcomes)))
        await asyncio.gather(*tasks)
        return outcomes  # type: ignore[return-value]  # every slot is filled by its task

    async def _send_one(self, index: int, payload: Payload, outcomes: list[SendOutcome | None]) -> None:
        try:
            outcomes[index] = await self._post(payload)
        finally:
            self._in_flight.release()

    async def _post(self, payload: Payload) -> SendOutcome:
        config = self.config
        try:
            async with self._session.post(self._url, json=payload) as response:
                body = await response.read()
                status = response.status
        except aiohttp.ConnectionTimeoutError as exc:
            return NotSent(f"connect timeout after {config.connect_timeout}s: {exc!r}")
        except aiohttp.SocketTimeoutError as exc:
            return OutcomeUnknown(f"no answer within {config.read_timeout}s: {exc!r}")
        except aiohttp.ClientSSLError as exc:
            return OutcomeUnknown(f"connection lost after connecting: {exc!r}")
        except aiohttp.ClientConnectorError as exc:
            return NotSent(f"could not connect: {exc!r}")
        except aiohttp.ClientConnectionError as exc:
            return OutcomeUnknown(f"connection lost after connecting: {exc!r}")
        except aiohttp.InvalidURL:
            raise  # A configuration mistake, not an outcome.
        except (TimeoutError, aiohttp.ClientError) as exc:
            return OutcomeUnknown(f"request failed after connecting: {exc!r}")
        return send_outcome(read_answer(status, body))

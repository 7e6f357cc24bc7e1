"""Running the sandbox: in the foreground (the management command) or in a thread (tests).

A test fixture does::

    with BackgroundSandbox(SandboxConfig(port=0, webhook_url=receiver_url)) as sandbox:
        requests.post(sandbox.url + "/v25.0/<phone-number-id>/messages", ...)

and points the client at ``sandbox.url``. The thread runs its own event loop, so the test's
synchronous code (the ``requests`` client) talks to it over real loopback HTTP.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

from cloud_api.sandbox.app import Sandbox
from cloud_api.sandbox.config import SandboxConfig


async def _seed(sandbox: Sandbox, templates: list[dict[str, Any]]) -> None:
    for template in templates:
        sandbox.templates.upsert(template, notify=False)


async def serve_forever(
    config: SandboxConfig,
    *,
    seed_templates: Sequence[dict[str, Any]] = (),
    on_ready: Callable[[Sandbox], None],
) -> None:
    sandbox = Sandbox(config)
    await sandbox.start()
    await _seed(sandbox, list(seed_templates))
    on_ready(sandbox)
    try:
        await asyncio.Event().wait()
    finally:
        await sandbox.stop()


class BackgroundSandbox:
    """The sandbox on its own event loop in a daemon thread; a context manager."""

    def __init__(self, config: SandboxConfig, *, seed_templates: Sequence[dict[str, Any]] = ()):
        self.sandbox = Sandbox(config)
        self._seed_templates = list(seed_templates)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="whatsapp-sandbox", daemon=True)

    @property
    def url(self) -> str:
        return self.sandbox.url

    def start(self) -> BackgroundSandbox:
        self._thread.start()
        ready: Future[None] = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        ready.result(timeout=10)
        return self

    async def _start(self) -> None:
        await self.sandbox.start()
        await _seed(self.sandbox, self._seed_templates)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.sandbox.stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> BackgroundSandbox:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

"""The sandbox: its parts wired together, and the listening socket it can close for an outage.

It owns its socket (not aiohttp's ``TCPSite``) so that port 0 gives a free port known before
serving, and so an outage can stop listening — connections refused, provably not sent — and then
listen again on the very same port.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket

from aiohttp import web

from cloud_api.sandbox.config import SandboxConfig
from cloud_api.sandbox.control_api import ControlApi
from cloud_api.sandbox.faults import Faults
from cloud_api.sandbox.graph_api import MAX_UPLOAD_BYTES, GraphApi
from cloud_api.sandbox.people import People
from cloud_api.sandbox.state import SandboxState
from cloud_api.sandbox.template_review import TemplateDesk
from cloud_api.sandbox.webhooks import WebhookSender

logger = logging.getLogger(__name__)


def _listening_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


class Sandbox:
    def __init__(self, config: SandboxConfig):
        self.config = config
        self.rng = random.Random(config.seed)
        self.state = SandboxState(record_limit=config.record_limit)
        self.webhooks = WebhookSender(config, self.rng)
        self.people = People(config, self.state, self.webhooks, self.rng)
        self.faults = Faults(config, self.rng)
        self.templates = TemplateDesk(config, self.state, self.webhooks)
        self.port = config.port
        self._runner: web.AppRunner | None = None
        self._site: web.SockSite | None = None
        self._outage: asyncio.Task[None] | None = None

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES)
        # Control routes first: "/{version}/{node}" must not swallow "/_sandbox/…".
        app.add_routes(ControlApi(self).routes())
        app.add_routes(GraphApi(self).routes())
        return app

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    async def start(self) -> None:
        """Listen (port 0 picks a free one, see ``port``) and start the webhook queue."""
        sock = _listening_socket(self.config.host, self.config.port)
        self.port = sock.getsockname()[1]
        # A short shutdown: a stopping sandbox must not wait a minute for idle keep-alive clients.
        self._runner = web.AppRunner(
            self.build_app(), access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await self._runner.setup()
        self._site = web.SockSite(self._runner, sock)
        await self._site.start()
        await self.webhooks.start()

    async def stop(self) -> None:
        if self._outage:
            self._outage.cancel()
        await self.webhooks.close()
        if self._runner:
            await self._runner.cleanup()

    def start_outage(self, seconds: float) -> None:
        if self._outage is None or self._outage.done():
            self._outage = asyncio.get_running_loop().create_task(self._outage_for(seconds))

    async def _outage_for(self, seconds: float) -> None:
        assert self._runner is not None and self._site is not None and self._runner.server is not None
        logger.info("Sandbox outage: not listening for %ss", seconds)
        await self._site.stop()  # closes the listening socket: new connections are refused
        for connection in self._runner.server.connections:
            # Kept-alive connections go too, so every new request is refused; a request in
            # flight right now loses its answer (its outcome is unknown to the caller, as in life).
            connection.force_close()
        await asyncio.sleep(seconds)
        self._site = web.SockSite(self._runner, _listening_socket(self.config.host, self.port))
        await self._site.start()
        logger.info("Sandbox outage over: listening again on %s", self.url)

"""Injected faults: for sends latency, a throughput cap (130429), errors, 5xx and unknown outcomes;
for management calls an error code (the Graph API call limits).

The outage (connections refused while the sandbox stops listening) lives in the server, because
it is about the socket, not about an answer.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Literal

from aiohttp import web

from cloud_api.sandbox.config import SandboxConfig
from cloud_api.sandbox.graph_errors import GraphError

UnknownOutcome = Literal["hang", "drop"]


class Faults:
    def __init__(self, config: SandboxConfig, rng: random.Random):
        self._config = config
        self._rng = rng
        self._second = 0
        self._sends_this_second = 0

    async def delay_answer(self) -> None:
        if self._config.latency_ms > 0:
            await asyncio.sleep(self._config.latency_ms / 1000)

    def refuse_send(self) -> web.Response | None:
        """A refusal decided before the request is even read: 130429, 5xx, or an injected code."""
        config = self._config
        if config.max_mps > 0:
            second = int(time.monotonic())
            if second != self._second:
                self._second, self._sends_this_second = second, 0
            self._sends_this_second += 1
            if self._sends_this_second > config.max_mps:
                return GraphError(130429, "Cloud API message throughput has been reached.").response()
        if config.server_error_rate and self._rng.random() < config.server_error_rate:
            return web.Response(status=503, text="Service Unavailable", content_type="text/plain")
        if config.error_rate and config.error_codes and self._rng.random() < config.error_rate:
            code = self._rng.choice(config.error_codes)
            return GraphError(code, "Injected by the sandbox (error_rate).").response()
        return None

    def refuse_management(self) -> None:
        """Template and upload calls refused with an injected code (the Graph API call limits)."""
        if self._config.management_error_code:
            raise GraphError(
                self._config.management_error_code, "Injected by the sandbox (management_error_code)."
            )

    def unknown_outcome(self) -> UnknownOutcome | None:
        """For an accepted send: answer normally (None), never answer ("hang") or cut the line ("drop")."""
        config = self._config
        if not config.unknown_rate or self._rng.random() >= config.unknown_rate:
            return None
        if config.unknown_mode == "both":
            return self._rng.choice(("hang", "drop"))
        return config.unknown_mode

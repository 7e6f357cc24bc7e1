"""The sandbox's capacity, against a bare aiohttp server in the same run, and our client's own rate.

1. An asyncio load client (aiohttp, many concurrent requests) sends template messages for a
   fixed time to (a) a bare aiohttp server answering a constant and (b) the sandbox, once with
   its webhooks off and once with signed webhooks going to the bare server. The sandbox must not
   be the bottleneck of any benchmark: the target is 2,000 sends/s on this 2-core machine.
2. Our ``CloudApiClient`` (``requests``, a thread pool) sends to the sandbox: the rate one
   process of ours can reach.

Servers run as separate processes on 127.0.0.1 (port 0) so the load client does not share their
interpreter; every loop is bounded by time or count, and the servers are stopped at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DURATION = 4.0  # seconds measured per target, after a warm-up
WARM_UP = 0.5
CONCURRENCY = 64
CLIENT_SENDS = 3000
CLIENT_THREADS = 16

TOKEN = "sandbox-access-token"
PHONE_NUMBER_ID = "106540352242922"
TEMPLATE = {
    "name": "order_update",
    "language": "en_US",
    "category": "UTILITY",
    "components": [
        {
            "type": "BODY",
            "text": "Hello {{1}}, your order {{2}} is on its way.",
            "example": {"body_text": [["Pablo", "ORD-1"]]},
        }
    ],
}
BARE_SERVER = """
import socket
from aiohttp import web
ANSWER = (b'{"messaging_product":"whatsapp","contacts":[{"input":"+4915100000000",'
          b'"wa_id":"4915100000000"}],"messages":[{"id":"wamid.constant"}]}')
async def answer(request):
    await request.read()
    return web.Response(body=ANSWER, content_type="application/json")
sock = socket.socket(); sock.bind(("127.0.0.1", 0))
print(f"listening on http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
app = web.Application(); app.router.add_post("/{tail:.*}", answer)
web.run_app(app, sock=sock, access_log=None, print=None)
"""


def _message(number: int) -> bytes:
    return json.dumps(
        {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": f"+49151{number:08d}",
            "type": "template",
            "template": {
                "name": "order_update",
                "language": {"code": "en_US"},
                "components": [
                    {
                        "type": "body",
                        "parameters": [{"type": "text", "text": "Pablo"}, {"type": "text", "text": "ORD-1"}],
                    }
                ],
            },
            "biz_opaque_callback_data": f"bench-{number}",
        }
    ).encode()


@contextlib.contextmanager
def _server(command: list[str]) -> Iterator[str]:
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        if not match:
            raise RuntimeError(f"server did not start: {line!r}")
        yield match.group(1)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


async def _load(url: str) -> float:
    """Sends per second that the target answered 200 during DURATION seconds."""
    import aiohttp

    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    bodies = [_message(i) for i in range(1000)]
    counted = 0
    failures = 0
    measuring = False
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as session:
        started = time.monotonic()
        stop_at = started + WARM_UP + DURATION

        async def worker(offset: int) -> None:
            nonlocal counted, failures
            i = offset
            while time.monotonic() < stop_at:
                async with session.post(url, data=bodies[i % len(bodies)], headers=headers) as response:
                    await response.read()
                    if measuring:
                        if response.status == 200:
                            counted += 1
                        else:
                            failures += 1
                i += CONCURRENCY

        async def measure() -> None:
            nonlocal measuring
            await asyncio.sleep(WARM_UP)
            measuring = True

        await asyncio.gather(measure(), *(worker(n) for n in range(CONCURRENCY)))
    if failures:
        raise RuntimeError(f"{failures} sends were not answered 200 during the benchmark")
    return counted / DURATION


def _client_rate(base_url: str) -> float:
    sys.path.insert(0, str(ROOT))
    from cloud_api.client import CloudApiClient, CloudApiConfig
    from cloud_api.outcomes import Accepted

    client = CloudApiClient(
        CloudApiConfig(
            base_url=base_url,
            api_version="v25.0",
            phone_number_id=PHONE_NUMBER_ID,
            business_account_id="102290129340398",
            app_id="1000000000000001",
            access_token=TOKEN,
            connect_timeout=3.0,
            read_timeout=20.0,
        ),
        pool_size=CLIENT_THREADS,
    )
    payloads = [json.loads(_message(i)) for i in range(CLIENT_SENDS)]
    with ThreadPoolExecutor(CLIENT_THREADS) as pool:
        list(pool.map(client.send, payloads[:200]))  # warm the connection pool
        started = time.monotonic()
        outcomes = list(pool.map(client.send, payloads))
        elapsed = time.monotonic() - started
    client.close()
    accepted = sum(isinstance(outcome, Accepted) for outcome in outcomes)
    if accepted != len(outcomes):
        raise RuntimeError(f"only {accepted} of {len(outcomes)} client sends were accepted")
    return len(outcomes) / elapsed


def _sandbox_command(seed_file: str, webhook_url: str | None) -> list[str]:
    command = [
        sys.executable,
        "manage.py",
        "whatsapp_sandbox",
        "--port=0",
        f"--seed-file={seed_file}",
        "--seed=1",
    ]
    if webhook_url:
        command.append(f"--webhook-url={webhook_url}")
    return command


def main() -> dict[str, str]:
    messages_path = f"/v25.0/{PHONE_NUMBER_ID}/messages"
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as seed:
        json.dump({"templates": [TEMPLATE]}, seed)
    results: dict[str, str] = {}
    with _server([sys.executable, "-c", BARE_SERVER]) as bare:
        bare_rate = asyncio.run(_load(bare + messages_path))
        with _server(_sandbox_command(seed.name, None)) as sandbox:
            quiet_rate = asyncio.run(_load(sandbox + messages_path))
            client_rate = _client_rate(sandbox)
        with _server(_sandbox_command(seed.name, bare + "/webhooks/whatsapp/")) as sandbox:
            webhook_rate = asyncio.run(_load(sandbox + messages_path))
    Path(seed.name).unlink()
    results["bare aiohttp server (sends/s)"] = f"{bare_rate:,.0f}"
    results["sandbox, webhooks off (sends/s)"] = f"{quiet_rate:,.0f} ({quiet_rate / bare_rate:.0%} of bare)"
    results["sandbox, signed webhooks on (sends/s)"] = (
        f"{webhook_rate:,.0f} ({webhook_rate / bare_rate:.0%} of bare)"
    )
    results["CloudApiClient, 16 threads -> sandbox (sends/s)"] = f"{client_rate:,.0f}"
    results["sandbox meets 2,000 sends/s"] = "yes" if min(quiet_rate, webhook_rate) >= 2000 else "NO"
    return results

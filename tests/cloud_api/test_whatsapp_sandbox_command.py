"""``manage.py whatsapp_sandbox`` as a real process: flags, --seed-file, signed webhooks, clean exit."""

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

from cloud_api import payloads
from cloud_api.client import CloudApiClient, CloudApiConfig
from cloud_api.outcomes import Accepted
from cloud_api.signatures import SIGNATURE_HEADER, verify_signature
from tests.sandbox import CUSTOMER, wait_until

MANAGE = Path(__file__).resolve().parents[2] / "manage.py"


def test_the_command_serves_seeded_templates_and_posts_signed_webhooks(tmp_path, webhook_receiver, settings):
    seed = tmp_path / "seed.json"
    body = {"type": "BODY", "text": "Hi {{1}}, welcome aboard.", "example": {"body_text": [["Jo"]]}}
    seed.write_text(
        json.dumps(
            {
                "templates": [
                    {"name": "welcome", "language": "en", "category": "UTILITY", "components": [body]}
                ]
            }
        )
    )
    process = subprocess.Popen(
        [
            sys.executable,
            str(MANAGE),
            "whatsapp_sandbox",
            "--port=0",
            f"--webhook-url={webhook_receiver.url}",
            f"--seed-file={seed}",
            "--sent-delay=0.01",
            "--delivered-delay=0.02",
            "--read-delay=0.03",
            "--read-share=1",
            "--seed=1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        url = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line).group(1)
        api = CloudApiClient(
            CloudApiConfig(
                base_url=url,
                api_version=settings.WHATSAPP_API_VERSION,
                phone_number_id=settings.WHATSAPP_PHONE_NUMBER_ID,
                business_account_id=settings.WHATSAPP_BUSINESS_ACCOUNT_ID,
                app_id=settings.WHATSAPP_APP_ID,
                access_token=settings.WHATSAPP_ACCESS_TOKEN,
                connect_timeout=1,
                read_timeout=2,
            )
        )
        outcome = api.send(payloads.template_message(CUSTOMER, name="welcome", language="en", body=["Jo"]))
        assert isinstance(outcome, Accepted)
        wait_until(lambda: len(webhook_receiver.statuses_of(outcome.wamid)) == 3)
        for headers, raw in webhook_receiver.requests:
            assert verify_signature(raw, headers[SIGNATURE_HEADER], [settings.WHATSAPP_APP_SECRET])
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=10)
    assert process.returncode == 0, process.stderr.read()

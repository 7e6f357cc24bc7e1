"""`manage.py demo_conversation`: the `make run` demo's live part, started by the Procfile.

Once web and the sandbox answer, it queues an order update and a promotion through the one send
path, and has a sandbox "person" write STOP; then it stays up (honcho stops every process when
one exits). In the admin, staff watch the messages go out, come back delivered and read, and the
person's marketing consent turn into an opt-out with a confirmation reply. DEBUG only.
"""

import time

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from contacts.models import Contact
from core.actors import Actor
from core.errors import ApplicationError
from messaging.sending.service import send_message
from templates_app.models import MessageTemplate

ORDER = {
    "header": {
        "type": "document",
        "link": "https://shop.example/invoices/DEMO-1001.pdf",
        "filename": "invoice.pdf",
    },
    "body": ["Anna", "DEMO-1001"],
    "buttons": {"0": "DEMO-1001"},
}
PROMOTION = {
    "header": {"type": "image", "link": "https://shop.example/spring.jpg"},
    "body": ["James", "Sunday"],
    "buttons": {"2": "SPRING20"},
}


class Command(BaseCommand):
    help = "Queue the demo's messages and have a sandbox person reply STOP (DEBUG only)."

    def add_arguments(self, parser):
        parser.add_argument("--site-url", default="http://127.0.0.1:8000")
        parser.add_argument("--sandbox-url", default="http://127.0.0.1:8001")
        parser.add_argument("--once", action="store_true", help="exit when done instead of staying up")

    def handle(self, *args, site_url, sandbox_url, once, **options):
        if not settings.DEBUG:
            raise CommandError("demo_conversation only runs with DEBUG on.")
        self._wait_for(f"{site_url}/healthz", "web")
        self._wait_for(f"{sandbox_url}/_sandbox/config", "sandbox")
        actor = Actor.system("demo")
        self._send("order_update", "+4915123456701", ORDER, actor)
        self._send("spring_promotion", "+447911123456", PROMOTION, actor)
        # Lukas writes STOP: the webhook records his opt-out and sends the confirmation.
        requests.post(
            f"{sandbox_url}/_sandbox/inbound",
            json={"from": "+4915123456702", "profile_name": "Lukas", "kind": "text", "body": "STOP"},
            timeout=10,
        ).raise_for_status()
        self.stdout.write("Demo: Lukas (+49 151 23456702) wrote STOP; watch his consent in the admin.")
        while not once:
            time.sleep(3600)

    def _send(self, template_name: str, phone: str, parameters: dict, actor: Actor) -> None:
        template = MessageTemplate.objects.get(name=template_name, language="en")
        contact = Contact.objects.get(phone=phone)
        try:
            message = send_message(contact=contact, actor=actor, template=template, parameters=parameters)
        except ApplicationError as exc:
            self.stdout.write(f"Demo: {template_name} to {contact} not queued: {exc.message}")
        else:
            self.stdout.write(f"Demo: queued {template_name} to {contact} ({message.public_id}).")

    def _wait_for(self, url: str, name: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(url, timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise CommandError(f"The {name} process did not answer at {url} within {timeout:.0f}s.")

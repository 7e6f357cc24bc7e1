"""The messaging pages of the admin: the halt banner and its clearing, the message log, reviews,
raw webhooks, and sending an approved template from a contact's page."""

import json

import pytest
from django.urls import reverse

from messaging.models import (
    MessageStatus,
    OutboundMessage,
    SendAttempt,
    SendingHalt,
    WebhookEvent,
)
from messaging.sending.halt import halt_sending
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_every_admin_page_shows_an_active_halt(client_for, editor):
    halt_sending(reason="The access token expired.", code=190)
    client = client_for(editor)
    for url in (
        "admin:index",
        "admin:contacts_contact_changelist",
        "admin:templates_app_messagetemplate_changelist",
    ):
        html = client.get(reverse(url)).content.decode()
        assert "Sending is halted" in html and "The access token expired." in html
        assert "Clear the halt" not in html  # only Administrators may


def test_an_administrator_clears_the_halt_and_the_banner_goes(client_for, administrator):
    halt = halt_sending(reason="The access token expired.", code=190)
    client = client_for(administrator)
    assert "Clear the halt" in client.get(reverse("admin:index")).content.decode()
    response = client.post(
        reverse("admin:messaging_sendinghalt_changelist"),
        {"action": "clear", "_selected_action": [halt.pk]},
        follow=True,
    )
    assert any("Sending resumed" in str(m) for m in response.context["messages"])
    assert not SendingHalt.objects.filter(active=True).exists()
    assert "Sending is halted" not in client.get(reverse("admin:index")).content.decode()


def test_others_cannot_clear_the_halt(client_for, editor):
    halt = halt_sending(reason="Payment problem.", code=131042)
    client_for(editor).post(
        reverse("admin:messaging_sendinghalt_changelist"), {"action": "clear", "_selected_action": [halt.pk]}
    )
    assert SendingHalt.objects.filter(active=True).exists()


@pytest.fixture
def unknown_message(customer, order_update):
    message = OutboundMessage.objects.create(
        contact=customer,
        kind="template",
        purpose="service",
        template_version=order_update.approved_version,
        status=MessageStatus.UNKNOWN,
        needs_review=True,
        actor_kind="system",
        actor_label="tests",
        attempt_count=1,
    )
    SendAttempt.objects.create(message=message, number=1, outcome="unknown")
    return message


@pytest.mark.parametrize(
    "action,status", [("resend", MessageStatus.QUEUED), ("mark_failed", MessageStatus.FAILED)]
)
def test_an_administrator_reviews_an_unknown_message(
    client_for, administrator, unknown_message, action, status
):
    client_for(administrator).post(
        reverse("admin:messaging_outboundmessage_changelist"),
        {"action": action, "_selected_action": [unknown_message.pk]},
    )
    unknown_message.refresh_from_db()
    assert unknown_message.status == status and not unknown_message.needs_review


def test_editors_are_not_offered_the_review_actions(client_for, editor, unknown_message):
    page = client_for(editor).get(reverse("admin:messaging_outboundmessage_changelist"))
    assert page.status_code == 200
    assert b'value="resend"' not in page.content


def test_the_message_page_shows_attempts_and_history(client_for, auditor, unknown_message):
    page = client_for(auditor).get(
        reverse("admin:messaging_outboundmessage_change", args=[unknown_message.pk])
    )
    assert page.status_code == 200
    assert "Outcome unknown" in page.content.decode()


def test_raw_webhooks_are_pretty_printed(client_for, auditor):
    event = WebhookEvent.objects.create(
        body=json.dumps({"object": "whatsapp_business_account", "é": 1}).encode()
    )
    broken = WebhookEvent.objects.create(body=b"{not json", outcome="failed", error="Expecting property name")
    client = client_for(auditor)
    assert client.get(reverse("admin:messaging_webhookevent_changelist")).status_code == 200
    html = client.get(reverse("admin:messaging_webhookevent_change", args=[event.pk])).content.decode()
    assert '"object": "whatsapp_business_account"' in html.replace("&quot;", '"') and "é" in html
    assert (
        "{not json"
        in client.get(reverse("admin:messaging_webhookevent_change", args=[broken.pk])).content.decode()
    )


def test_send_a_template_from_the_contact_page(client_for, editor, customer, order_update, settings):
    settings.WHATSAPP_BACKEND = "memory"
    client = client_for(editor)
    contact_page = client.get(reverse("admin:contacts_contact_change", args=[customer.pk])).content.decode()
    assert "Send template" in contact_page
    url = reverse("admin:messaging_send_template", args=[customer.pk])
    form = client.get(url, {"template": order_update.pk})
    assert "Body {{1}}" in form.content.decode()
    values = {
        "header_link": "https://shop.example/invoice.pdf",
        "body__1": "Pablo",
        "body__2": "ORD-1",
        "button__0": "ORD-1",
    }
    check = client.post(f"{url}?template={order_update.pk}", {**values, "_preview": "1"})
    assert check.status_code == 200 and not OutboundMessage.objects.exists()
    response = client.post(
        f"{url}?template={order_update.pk}", {"confirmation": check.context["confirmation"], "_send": "1"}
    )
    assert response.status_code == 302
    message = OutboundMessage.objects.get()
    assert message.parameters["body"] == ["Pablo", "ORD-1"] and message.actor_user == editor
    page = client.get(reverse("admin:messaging_outboundmessage_change", args=[message.pk])).content.decode()
    assert 'class="wa-bubble"' in page and "Hi Pablo, your order ORD-1 has shipped." in page


def test_sending_to_a_contact_without_consent_is_refused_before_anything_is_queued(
    client_for, editor, stranger, promotion
):
    url = reverse("admin:messaging_send_template", args=[stranger.pk])
    client = client_for(editor)
    check = client.post(
        f"{url}?template={promotion.pk}",
        {
            "header_link": "https://shop.example/a.jpg",
            "body__1": "Ana",
            "body__2": "Sunday",
            "button__2": "SPRING20",
            "_preview": "1",
        },
    )
    assert check.status_code == 200 and "It would not be sent" in check.content.decode()
    response = client.post(
        f"{url}?template={promotion.pk}", {"confirmation": check.context["confirmation"], "_send": "1"}
    )
    assert response.status_code == 200
    assert "opt" in response.context["refusal"].lower()
    assert not OutboundMessage.objects.exists()


def test_only_senders_may_open_the_send_form(client_for, auditor, customer):
    assert (
        client_for(auditor).get(reverse("admin:messaging_send_template", args=[customer.pk])).status_code
        == 403
    )
    assert UserFactory(role="Approver").has_perm("messaging.send_template_message") is False

import os

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]
SCREENSHOTS = os.environ.get("SEND_TEMPLATE_SCREENSHOTS", "")  # a folder, to look at the pages


def shot(page, name):
    if SCREENSHOTS:
        page.screenshot(path=os.path.join(SCREENSHOTS, f"{name}.png"), full_page=True)


def test_an_editor_checks_the_message_goes_back_and_sends_it(login, live_server, settings):
    from contacts.models import Purpose
    from core.actors import Actor
    from messaging.models import OutboundMessage
    from templates_app.demo import seed_templates
    from tests.factories import ContactFactory, UserFactory, opt_in

    settings.WHATSAPP_BACKEND = "memory"
    seed_templates(actor=Actor.system("tests"))
    anna = ContactFactory(phone="+4915199990001", first_name="Anna", last_name="Berg")
    opt_in(anna, Purpose.SERVICE)
    page = login(UserFactory(username="erin", role="Editor"))

    page.goto(f"{live_server.url}/admin/contacts/contact/{anna.pk}/change/")
    page.click("a.send-template")
    page.select_option("#id_template", label="order_update (en)")
    page.click("#choose-template-form input[type=submit]")
    # Step 1: every field empty, the sample only a hint.
    assert page.input_value("#id_body__1") == ""
    assert page.get_attribute("#id_body__1", "placeholder") == "e.g. Pablo"
    page.fill("#id_header_link", "https://shop.example/invoices/ORD-1.pdf")
    page.fill("#id_body__1", "Anna")
    page.fill("#id_body__2", "ORD-1")
    page.fill("#id_button__0", "ORD-1")
    shot(page, "1-form")
    page.click("input[name=_preview]")

    # Step 2: the message as Anna reads it, and nothing queued yet.
    page.wait_for_selector("#send-preview .wa-bubble")
    assert "Hi Anna, your order ORD-1 has shipped." in page.inner_text("#send-preview")
    assert "Opted in to service messages" in page.inner_text("#send-checks")
    shot(page, "2-confirm")
    assert not OutboundMessage.objects.exists()

    page.click("input[name=_back]")
    assert page.input_value("#id_body__2") == "ORD-1"
    page.click("input[name=_preview]")
    page.click("input[name=_send]")
    page.wait_for_selector(".messagelist .success")
    message = OutboundMessage.objects.get()
    assert message.contact == anna and message.parameters["body"] == ["Anna", "ORD-1"]
    assert "Hi Anna, your order ORD-1 has shipped." in page.inner_text("#content")

"""Sending an approved template from a contact's page: fill in every value, see the message as that
contact will read it with what the send-time rules say now, then confirm. Nothing is queued before
the confirmation, and the confirmation is checked again on the server."""

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import signing
from django.urls import reverse
from django.utils import timezone

from contacts.models import Purpose
from messaging.models import OutboundMessage
from messaging.sending.halt import halt_sending
from templates_app.models import TemplateVersion, VersionReview
from templates_app.services import template_apply_status
from tests.factories import ContactFactory, UserFactory, opt_in, opt_out

pytestmark = pytest.mark.django_db

# The order update's values for Anna: none of them is the template's sample (Pablo, ORD-9271).
ANNA_VALUES = {
    "header_link": "https://shop.example/invoices/ORD-1.pdf",
    "body__1": "Anna",
    "body__2": "ORD-1",
    "button__0": "ORD-1",
}


@pytest.fixture
def anna(db):
    """Opted in to service messages only; her window is closed."""
    contact = ContactFactory(phone="+4915199990001", first_name="Anna", time_zone="Europe/Berlin")
    opt_in(contact, Purpose.SERVICE)
    return contact


def send_url(contact, template=None):
    url = reverse("admin:messaging_send_template", args=[contact.pk])
    return f"{url}?template={template.pk}" if template is not None else url


def preview(client, contact, template, values):
    return client.post(send_url(contact, template), {**values, "_preview": "1"})


def template_names(response) -> list[str]:
    return [template.name for template in response.templates]


def confirmation_of(response) -> str:
    return response.context["confirmation"]


# --- Step 1: the form -------------------------------------------------------------------------


def test_send_form_never_prefills_sample_values(client_for, editor, anna, order_update):
    page = client_for(editor).get(send_url(anna, order_update))
    assert page.status_code == 200
    form = page.context["form"]
    assert set(form.fields) == set(ANNA_VALUES)
    assert all(not form[name].value() for name in form.fields)
    html = page.content.decode()
    for sample in ("Pablo", "ORD-9271"):
        assert not re.search(rf'value="[^"]*{sample}', html), f"{sample} pre-filled"
    # The sample is a hint only.
    assert 'placeholder="e.g. Pablo"' in html and 'placeholder="e.g. ORD-9271"' in html


def test_the_form_shows_the_template_with_its_variables_not_its_samples(
    client_for, editor, anna, order_update
):
    html = client_for(editor).get(send_url(anna, order_update)).content.decode()
    assert "Hi {{1}}, your order {{2}} has shipped." in html
    assert "Hi Pablo" not in html


def test_nothing_is_queued_before_confirm(client_for, editor, anna, order_update):
    response = preview(client_for(editor), anna, order_update, ANNA_VALUES)
    assert response.status_code == 200
    assert "admin/messaging/send_template_confirm.html" in template_names(response)
    html = response.content.decode()
    assert "Hi Anna, your order ORD-1 has shipped." in html and 'class="wa-bubble"' in html
    assert 'name="_send"' in html and 'name="_back"' in html
    assert not OutboundMessage.objects.exists()


def test_confirm_queues_exactly_the_previewed_message(client_for, editor, anna, order_update, settings):
    settings.WHATSAPP_BACKEND = "memory"
    client = client_for(editor)
    token = confirmation_of(preview(client, anna, order_update, ANNA_VALUES))
    response = client.post(send_url(anna, order_update), {"confirmation": token, "_send": "1"})
    message = OutboundMessage.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("admin:messaging_outboundmessage_change", args=[message.pk])
    assert message.contact == anna and message.actor_user == editor
    assert message.template_version == order_update.approved_version
    assert message.parameters == {
        "header": {"type": "document", "link": "https://shop.example/invoices/ORD-1.pdf"},
        "body": ["Anna", "ORD-1"],
        "buttons": {"0": "ORD-1"},
    }
    assert "Hi Anna, your order ORD-1 has shipped." in message.rendered_text


def test_back_returns_to_the_form_with_the_values_kept(client_for, editor, anna, order_update):
    client = client_for(editor)
    token = confirmation_of(preview(client, anna, order_update, ANNA_VALUES))
    response = client.post(send_url(anna, order_update), {"confirmation": token, "_back": "1"})
    assert response.status_code == 200
    form = response.context["form"]
    assert {name: form[name].value() for name in form.fields} == ANNA_VALUES
    assert not OutboundMessage.objects.exists()


def test_a_named_template_is_previewed_and_sent_with_named_values(
    client_for, editor, anna, demo_templates, settings
):
    settings.WHATSAPP_BACKEND = "memory"
    reminder = demo_templates["appointment_reminder"]
    client = client_for(editor)
    values = {
        "header__first_name": "Anna",
        "body__first_name": "Anna",
        "body__date": "3 June",
        "body__time": "09:15",
        "body__store": "Hamburg",
    }
    response = preview(client, anna, reminder, values)
    assert "Hi Anna, see you on 3 June at 09:15 in our Hamburg store." in response.content.decode()
    client.post(send_url(anna, reminder), {"confirmation": confirmation_of(response), "_send": "1"})
    assert OutboundMessage.objects.get().parameters["body"] == {
        "first_name": "Anna",
        "date": "3 June",
        "time": "09:15",
        "store": "Hamburg",
    }


# --- Bad values: an error on their field, nothing queued --------------------------------------


@pytest.mark.parametrize(
    "change,field",
    [
        ({"body__2": ""}, "body__2"),
        ({"body__2": "   "}, "body__2"),
        ({"body__1": "Anna\nMüller"}, "body__1"),
        ({"body__1": "Anna\tMüller"}, "body__1"),
        ({"button__0": "ORD 1"}, "button__0"),
        ({"header_link": "not a link"}, "header_link"),
        ({"header_link": "ftp://shop.example/a.pdf"}, "header_link"),
    ],
)
def test_a_missing_or_invalid_value_is_an_error_on_its_field(
    client_for, editor, anna, order_update, change, field
):
    response = preview(client_for(editor), anna, order_update, {**ANNA_VALUES, **change})
    assert response.status_code == 200
    assert "admin/messaging/send_template.html" in template_names(response)
    form = response.context["form"]
    assert list(form.errors) == [field], form.errors
    assert "confirmation" not in response.context
    assert not OutboundMessage.objects.exists()


def test_a_value_the_form_does_not_know_is_ignored(client_for, editor, anna, order_update, settings):
    settings.WHATSAPP_BACKEND = "memory"
    client = client_for(editor)
    response = preview(client, anna, order_update, {**ANNA_VALUES, "button__7": "x", "body__3": "y"})
    client.post(send_url(anna, order_update), {"confirmation": confirmation_of(response), "_send": "1"})
    assert OutboundMessage.objects.get().parameters["body"] == ["Anna", "ORD-1"]


def test_a_coupon_code_too_long_for_whatsapp_is_an_error_on_its_field(client_for, editor, anna, promotion):
    opt_in(anna, Purpose.MARKETING)
    values = {
        "header_link": "https://shop.example/a.jpg",
        "body__1": "Anna",
        "body__2": "Sunday",
        "button__2": "SPRING20-SPRING20-SPRING20",
    }
    response = preview(client_for(editor), anna, promotion, values)
    assert list(response.context["form"].errors) == ["button__2"]


# --- Step 2: what the send-time rules say now -------------------------------------------------


def test_the_confirm_page_says_what_the_send_time_rules_say_now(client_for, editor, anna, order_update):
    html = preview(client_for(editor), anna, order_update, ANNA_VALUES).content.decode()
    assert "Opted in to service messages" in html
    assert "window is closed" in html
    assert "Quiet hours apply to marketing messages only" in html
    assert "It would go now." in html


def test_the_confirm_page_warns_of_quiet_hours_at_the_recipient(
    client_for, editor, anna, promotion, settings
):
    opt_in(anna, Purpose.MARKETING)
    # Sending hours that start two hours from now in Berlin: it is quiet there now.
    start = timezone.now().astimezone(ZoneInfo("Europe/Berlin")) + timedelta(hours=2)
    end = start + timedelta(hours=1)
    settings.MARKETING_SENDING_HOURS = f"{start:%H}:00-{end:%H}:00"
    values = {
        "header_link": "https://shop.example/a.jpg",
        "body__1": "Anna",
        "body__2": "Sunday",
        "button__2": "SPRING20",
    }
    response = preview(client_for(editor), anna, promotion, values)
    html = response.content.decode()
    assert "Quiet hours at the recipient" in html and "It would wait" in html
    assert 'name="_send"' in html  # it may be queued; it goes when the hours open
    assert not OutboundMessage.objects.exists()


def test_the_confirm_page_shows_an_active_halt(client_for, editor, anna, order_update):
    halt_sending(reason="The access token expired.", code=190)
    html = preview(client_for(editor), anna, order_update, ANNA_VALUES).content.decode()
    assert "It would wait" in html and "Sending is halted" in html


def test_without_consent_the_confirm_page_says_so_and_offers_no_send(
    client_for, editor, stranger, order_update
):
    response = preview(client_for(editor), stranger, order_update, ANNA_VALUES)
    html = response.content.decode()
    assert "No service opt-in is recorded" in html and "It would not be sent" in html
    assert 'name="_send"' not in html and 'name="_back"' in html
    # Confirming anyway is refused by the send path itself.
    client_for(editor).post(
        send_url(stranger, order_update), {"confirmation": confirmation_of(response), "_send": "1"}
    )
    assert not OutboundMessage.objects.exists()


def test_an_opt_out_after_the_preview_wins(client_for, editor, anna, order_update):
    client = client_for(editor)
    token = confirmation_of(preview(client, anna, order_update, ANNA_VALUES))
    opt_out(anna, Purpose.SERVICE)
    response = client.post(send_url(anna, order_update), {"confirmation": token, "_send": "1"})
    assert response.status_code == 200
    assert "opted out" in response.content.decode()
    assert not OutboundMessage.objects.exists()


# --- A confirmation is checked again, never trusted -------------------------------------------


def test_a_confirmation_with_changed_values_is_refused(client_for, editor, anna, order_update):
    client = client_for(editor)
    token = confirmation_of(preview(client, anna, order_update, ANNA_VALUES))
    payload, signature = token.rsplit(":", 1)
    forged = signing.dumps(
        {
            **signing.loads(token, salt="messaging.send_template"),
            "values": {**ANNA_VALUES, "body__1": "Pablo"},
        }
    )
    for tampered in (payload + ":" + signature[::-1], forged, "", "garbage"):
        response = client.post(send_url(anna, order_update), {"confirmation": tampered, "_send": "1"})
        assert response.status_code == 200
        assert "nothing was sent" in response.content.decode().lower()
    assert not OutboundMessage.objects.exists()


def test_a_send_without_a_confirmation_queues_nothing(client_for, editor, anna, order_update):
    response = client_for(editor).post(send_url(anna, order_update), {**ANNA_VALUES, "_send": "1"})
    assert response.status_code == 200
    assert not OutboundMessage.objects.exists()


def test_a_confirmation_for_another_contact_is_refused(client_for, editor, anna, customer, order_update):
    client = client_for(editor)
    token = confirmation_of(preview(client, anna, order_update, ANNA_VALUES))
    response = client.post(send_url(customer, order_update), {"confirmation": token, "_send": "1"})
    assert response.status_code == 200
    assert "was made for another contact or template" in response.content.decode()
    assert not OutboundMessage.objects.exists()


def test_a_confirmation_for_another_template_is_refused(client_for, editor, anna, order_update, promotion):
    client = client_for(editor)
    token = confirmation_of(preview(client, anna, order_update, ANNA_VALUES))
    response = client.post(send_url(anna, promotion), {"confirmation": token, "_send": "1"})
    assert "was made for another contact or template" in response.content.decode()
    assert not OutboundMessage.objects.exists()


def test_a_confirmation_made_by_someone_else_is_refused(client_for, editor, anna, order_update):
    token = confirmation_of(preview(client_for(editor), anna, order_update, ANNA_VALUES))
    other_editor = UserFactory(username="eddie", role="Editor")
    response = client_for(other_editor).post(
        send_url(anna, order_update), {"confirmation": token, "_send": "1"}
    )
    assert "was made by someone else" in response.content.decode()
    assert not OutboundMessage.objects.exists()


@pytest.mark.parametrize("status", ["PAUSED", "PENDING", "DISABLED"])
def test_a_confirmation_for_a_template_no_longer_approved_is_refused(
    client_for, editor, anna, order_update, status
):
    client = client_for(editor)
    token = confirmation_of(preview(client, anna, order_update, ANNA_VALUES))
    template_apply_status(template=order_update, status=status, source="webhook")
    response = client.post(send_url(anna, order_update), {"confirmation": token, "_send": "1"})
    assert response.status_code == 200
    html = response.content.decode().lower()
    assert "nothing was sent" in html and "only templates whatsapp approved can be sent" in html
    assert not OutboundMessage.objects.exists()


def test_a_confirmation_is_refused_when_the_approved_content_changed(client_for, editor, anna, order_update):
    client = client_for(editor)
    token = confirmation_of(preview(client, anna, order_update, ANNA_VALUES))
    current = order_update.approved_version
    edited = TemplateVersion.objects.create(
        template=order_update,
        number=2,
        category=current.category,
        parameter_format=current.parameter_format,
        components=current.components,
        review=VersionReview.APPROVED,
    )
    order_update.approved_version = edited
    order_update.save(update_fields=["approved_version"])
    response = client.post(send_url(anna, order_update), {"confirmation": token, "_send": "1"})
    assert response.status_code == 200
    assert "changed since your preview" in response.content.decode()
    # The values come back so the new content can be checked and confirmed again.
    form = response.context["form"]
    assert form["body__1"].value() == "Anna"
    assert not OutboundMessage.objects.exists()


def test_an_expired_confirmation_is_refused_with_the_values_kept(
    client_for, editor, anna, order_update, monkeypatch
):
    client = client_for(editor)
    token = confirmation_of(preview(client, anna, order_update, ANNA_VALUES))
    monkeypatch.setattr("messaging.forms.CONFIRMATION_MAX_AGE", -1)
    response = client.post(send_url(anna, order_update), {"confirmation": token, "_send": "1"})
    assert "is too old" in response.content.decode()
    assert response.context["form"]["body__2"].value() == "ORD-1"
    assert not OutboundMessage.objects.exists()


def test_a_confirmation_sends_once(client_for, editor, anna, order_update, settings):
    settings.WHATSAPP_BACKEND = "memory"
    client = client_for(editor)
    token = confirmation_of(preview(client, anna, order_update, ANNA_VALUES))
    client.post(send_url(anna, order_update), {"confirmation": token, "_send": "1"})
    again = client.post(send_url(anna, order_update), {"confirmation": token, "_send": "1"}, follow=True)
    assert OutboundMessage.objects.count() == 1
    assert any("already queued" in str(m) for m in again.context["messages"])


def test_a_post_for_a_template_that_is_not_approved_explains_why(client_for, editor, anna, order_update):
    template_apply_status(template=order_update, status="PAUSED", source="webhook")
    response = preview(client_for(editor), anna, order_update, ANNA_VALUES)
    assert response.status_code == 200
    assert "paused" in response.content.decode().lower()
    assert not OutboundMessage.objects.exists()


# --- Roles ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role_fixture", ["support", "auditor", "approver", "administrator"])
def test_roles_that_may_not_send_get_403_at_every_step(request, client_for, role_fixture, anna, order_update):
    editor_token = confirmation_of(
        preview(client_for(UserFactory(username="erin", role="Editor")), anna, order_update, ANNA_VALUES)
    )
    client = client_for(request.getfixturevalue(role_fixture))
    assert client.get(send_url(anna, order_update)).status_code == 403
    assert preview(client, anna, order_update, ANNA_VALUES).status_code == 403
    response = client.post(send_url(anna, order_update), {"confirmation": editor_token, "_send": "1"})
    assert response.status_code == 403
    assert not OutboundMessage.objects.exists()


def test_anonymous_visitors_are_sent_to_the_login_page(client, anna, order_update):
    response = client.post(send_url(anna, order_update), {**ANNA_VALUES, "_preview": "1"})
    assert response.status_code == 302 and "/login/" in response.url


def test_support_cannot_queue_a_promotion_from_a_contacts_page(client_for, support, customer, promotion):
    """Support reads conversations, answers inside the window and records opt-outs; a template from
    a contact's page is business-initiated (a promotion to someone who never wrote), not theirs."""
    values = {"header_link": "https://shop.example/spring.jpg", "body__1": "Pablo", "body__2": "Sunday"}
    client = client_for(support)
    assert client.get(send_url(customer, promotion)).status_code == 403
    assert preview(client, customer, promotion, {**values, "button__2": "SPRING20"}).status_code == 403
    assert not OutboundMessage.objects.exists()


def test_an_unknown_contact_is_404(client_for, editor, order_update):
    url = reverse("admin:messaging_send_template", args=[999999])
    assert client_for(editor).get(f"{url}?template={order_update.pk}").status_code == 404


def test_an_authentication_template_asks_for_the_code_only(client_for, editor, anna):
    from templates_app.drafts import Draft
    from templates_app.models import MessageTemplate

    template = MessageTemplate.objects.create(
        name="login_code",
        language="en",
        category="AUTHENTICATION",
        status="APPROVED",
        code_expiration_minutes=10,
        otp_kind="COPY_CODE",
    )
    version = TemplateVersion.objects.create(
        template=template,
        number=1,
        category="AUTHENTICATION",
        parameter_format="POSITIONAL",
        components=Draft.from_template(template).components(),
        review=VersionReview.APPROVED,
    )
    template.approved_version = version
    template.save(update_fields=["approved_version"])
    client = client_for(editor)
    form = client.get(send_url(anna, template)).context["form"]
    assert list(form.fields) == ["body__1"]
    refused = preview(client, anna, template, {"body__1": "12 34"})
    assert list(refused.context["form"].errors) == ["body__1"]
    shown = preview(client, anna, template, {"body__1": "123456"}).content.decode()
    assert "123456 is your verification code." in shown


def test_a_merged_away_contact_sends_staff_to_the_survivor(client_for, editor, anna, order_update):
    from contacts.merging import contact_merge
    from core.actors import Actor

    survivor = ContactFactory(phone="+4915100007777")
    contact_merge(survivor=survivor, merged=anna, actor=Actor.system("tests"), reason="one person")
    response = client_for(editor).get(send_url(anna, order_update))
    assert response.status_code == 302
    assert response.url == reverse("admin:contacts_contact_change", args=[survivor.pk])
    assert not OutboundMessage.objects.exists()

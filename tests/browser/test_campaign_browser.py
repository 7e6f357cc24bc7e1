"""A campaign from draft to scheduled, in the browser: the Editor builds it (template, segment, the
bindings editor's rows), previews a member's message, sends a test to a staff number and submits;
the Approver finds it in their queue, approves it and sees it scheduled."""

import os
from datetime import timedelta

import pytest

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]
SCREENSHOTS = os.environ.get("CAMPAIGN_SCREENSHOTS", "")  # a folder, to look at the pages


def shot(page, name):
    if SCREENSHOTS:
        page.screenshot(path=os.path.join(SCREENSHOTS, f"{name}.png"), full_page=True)


def bind(page, slot, source, value, fallback=""):
    """Fill one row of the bindings editor (``slot`` as "body.date")."""
    page.select_option(f'select[data-name="{slot}.source"]', source)
    if source == "literal":
        page.fill(f'input[data-name="{slot}.value"]', value)
    else:
        page.select_option(f'select[data-name="{slot}.value"]', value)
    if fallback:
        page.fill(f'input[data-name="{slot}.fallback"]', fallback)


def test_an_editor_builds_tests_and_submits_and_the_approver_schedules_it(login, live_server, settings):
    from django.utils import timezone

    from contacts.models import Purpose, TestNumber
    from core.actors import Actor
    from messaging.campaign_models import Campaign, CampaignStatus
    from messaging.models import OutboundMessage
    from templates_app.demo import seed_templates
    from tests.factories import ContactFactory, UserFactory, make_segment, opt_in

    settings.WHATSAPP_BACKEND = "memory"
    seed_templates(actor=Actor.system("tests"))
    greta = ContactFactory(phone="+4915199990011", first_name="Greta", last_name="Lindqvist", country="DE")
    opt_in(greta, Purpose.SERVICE)
    ContactFactory(phone="+4915199990012", first_name="Jonas", country="DE")  # no opt-in: excluded
    make_segment(name="Germany")
    # A staff phone, added as an Administrator adds one: its own contact and recorded opt-in.
    administrator = UserFactory(username="ada", role="Administrator")
    phone = ContactFactory(phone="+4915199990099", first_name="Erin", last_name="Work phone", country="")
    opt_in(phone, Purpose.SERVICE, actor=Actor.for_user(administrator))
    TestNumber.objects.create(contact=phone, label="Erin's work phone", added_by=administrator)
    editor = UserFactory(username="erin", role="Editor")
    approver = UserFactory(username="alex", role="Approver")

    # --- the Editor builds the campaign --------------------------------------------------------------
    page = login(editor)
    page.goto(f"{live_server.url}/admin/messaging/campaign/add/")
    page.fill("#id_name", "May appointments")
    page.select_option("#id_segment", label="Germany")
    # A media template first: its image header's fields and its coupon button's row appear ...
    page.select_option("#id_template", label="spring_promotion (en) — marketing · only this language")
    page.wait_for_selector('[data-slot="buttons.2"]')
    assert page.is_visible("fieldset.campaign-media")
    # ... and go again when the template changes.
    page.select_option("#id_template", label="appointment_reminder (en) — utility · only this language")
    page.wait_for_selector('[data-slot="body.store"]')
    assert page.is_hidden("fieldset.campaign-media")  # a text header: no media fields
    assert page.query_selector('[data-slot="buttons.2"]') is None
    bind(page, "header.first_name", "field", "first_name", fallback="there")
    bind(page, "body.first_name", "field", "first_name", fallback="there")
    bind(page, "body.date", "literal", "14 May")
    bind(page, "body.time", "literal", "09:30")
    bind(page, "body.store", "literal", "Hamburg")
    page.select_option("#id_schedule_kind", "at")
    tomorrow = timezone.localtime(timezone.now() + timedelta(days=1))
    page.fill("#id_send_at_0", f"{tomorrow:%Y-%m-%d}")
    page.fill("#id_send_at_1", "10:00:00")
    shot(page, "1-form")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    assert not page.is_visible("#campaign-missing")  # complete: nothing stands before submitting
    shot(page, "1b-draft")
    campaign = Campaign.objects.get(name="May appointments")
    assert campaign.bindings["body"]["store"]["value"] == "Hamburg"

    # --- a member's message, then a test to the staff phone -----------------------------------------------
    page.click("a.campaign-preview-link")
    page.wait_for_selector("#campaign-preview-figures")
    assert "1 of 2 members will receive it" in page.inner_text("#campaign-preview-figures")
    page.fill("#member-q", "Greta")
    page.click("#campaign-member-search input[type=submit]")
    page.click("a.campaign-member")
    bubble = page.inner_text("#campaign-chosen-bubble")
    assert "Reminder for Greta" in bubble and "see you on 14 May at 09:30 in our Hamburg store" in bubble
    shot(page, "2-preview")
    page.click("text=Send this to a test number")
    assert page.input_value("#id_member") == f"#{greta.pk}"
    page.select_option("#id_test_number", label="Erin's work phone (+4915199990099)")
    page.click("input[name=_send]")
    page.wait_for_selector("#campaign-test-sent")
    test = OutboundMessage.objects.get(is_test=True)
    assert test.contact == phone and test.campaign == campaign
    assert f"/admin/messaging/outboundmessage/{test.pk}/change/" in page.inner_html("#campaign-test-sent")
    shot(page, "3-test-sent")

    # --- submitted ---------------------------------------------------------------------------------------
    page.goto(f"{live_server.url}/admin/messaging/campaign/{campaign.pk}/change/")
    page.click("#campaign-workflow input[name=_submit]")
    page.wait_for_selector(".messagelist .success")
    assert "Awaiting approval" in page.inner_text("#content")
    assert not page.is_visible("input[name=_approve]")  # an Editor does not approve

    # --- the Approver approves it ------------------------------------------------------------------------
    page.context.clear_cookies()
    page = login(approver)
    page.goto(f"{live_server.url}/admin/messaging/campaign/")
    page.click("#campaign-queue-link")
    page.click("text=May appointments")
    assert "1 of 2 members will receive it" in page.inner_text("#campaign-preview-summary")
    shot(page, "4-awaiting")
    page.click("#campaign-workflow input[name=_approve]")
    page.wait_for_selector(".messagelist .success")
    assert "It is scheduled for" in page.inner_text(".messagelist")
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.APPROVED and campaign.approved_by == approver
    assert "Scheduled: it starts" in page.inner_text("#content")
    assert "1 of 2 members will receive it" in page.inner_text("#campaign-preview-summary")  # kept
    page.goto(f"{live_server.url}/admin/messaging/campaign/")
    assert "Scheduled" in page.inner_text("#result_list")
    shot(page, "5-scheduled")

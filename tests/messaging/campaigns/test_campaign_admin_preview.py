"""The campaign's preview page, its lists of excluded contacts, the member bubble, the bindings
editor's variables and the test send page: who may open them, what they show, bad input."""

import pytest
from django.urls import reverse

from contacts.models import Purpose
from messaging.models import OutboundMessage
from tests.factories import ContactFactory, TestNumberFactory, opt_in

pytest_plugins = ["tests.messaging.campaigns.workflow_world"]

pytestmark = pytest.mark.django_db


def preview_url(campaign, **query):
    url = reverse("admin:messaging_campaign_preview", args=[campaign.pk])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def excluded_url(campaign, reason):
    return reverse("admin:messaging_campaign_excluded", args=[campaign.pk, reason])


def send_test_url(campaign):
    return reverse("admin:messaging_campaign_test_send", args=[campaign.pk])


@pytest.fixture
def world(germans):
    """Two German members: Greta opted in to service messages, the other has no consent."""
    greta, other = germans
    greta.first_name, greta.last_name = "Greta", "Lindqvist"
    greta.save()
    opt_in(greta, Purpose.SERVICE)
    return greta, other


@pytest.fixture
def test_number(db):
    number = TestNumberFactory(
        contact=ContactFactory(phone="+4915100000999", first_name="Erin", last_name="Phone")
    )
    opt_in(number.contact, Purpose.SERVICE)
    return number


# --- the preview ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["editor", "approver", "auditor"])
def test_the_preview_renders_for_those_who_read_campaigns(request, client_for, role, world, pending):
    response = client_for(request.getfixturevalue(role)).get(preview_url(pending))
    assert response.status_code == 200
    preview = response.context["preview"]
    assert (preview["members"], preview["receive"]) == (2, 1)
    rows = {row["reason"]: row["count"] for row in preview["exclusions"]}
    assert rows["no_consent"] == 1 and rows["opted_out"] == 0


def test_support_cannot_open_the_preview(client_for, support, pending):
    assert client_for(support).get(preview_url(pending)).status_code == 403


def test_each_reason_links_to_those_contacts(client_for, approver, world, pending):
    other = world[1]
    client = client_for(approver)
    page = client.get(preview_url(pending)).content.decode()
    assert excluded_url(pending, "no_consent") in page
    assert excluded_url(pending, "opted_out") not in page  # nobody: no link
    response = client.get(excluded_url(pending, "no_consent"))
    assert response.status_code == 200
    assert [c.pk for c in response.context["page"]] == [other.pk]
    assert client.get(excluded_url(pending, "made_up")).status_code == 404


def test_the_preview_draws_a_few_recipients_bubbles(client_for, editor, world, draft):
    response = client_for(editor).get(preview_url(draft))
    greta, _ = world
    assert [(contact.pk, language) for contact, _, language in response.context["bubbles"]] == [
        (greta.pk, "en")
    ]
    assert "Reminder for Greta" in response.content.decode()


def test_any_member_found_by_name_phone_or_id_shows_their_bubble(client_for, editor, world, draft):
    greta, other = world
    client = client_for(editor)
    for query in ("lindq", greta.phone[-6:], f"%23{greta.pk}"):
        found = client.get(preview_url(draft, q=query)).context["found"]
        assert [c.pk for c in found] == [greta.pk], query
    response = client.get(preview_url(draft, contact=other.pk))
    contact, bubble, language = response.context["chosen"]
    assert language == "en"
    assert contact == other and f"Reminder for {other.first_name}" in bubble


def test_a_contact_outside_the_segment_or_a_forged_id_is_not_shown(client_for, editor, world, draft):
    stranger = ContactFactory(country="FR", first_name="Zoé")
    client = client_for(editor)
    for value in (stranger.pk, "abc", "99999999999999999999999"):
        response = client.get(preview_url(draft, contact=value))
        assert response.status_code == 200
        assert response.context["chosen"] is None
        assert "not a member" in response.context["chosen_error"]
    assert client.get(preview_url(draft, q="Zoé")).context["found"] == []


def test_the_campaign_page_shows_the_figures_last_counted_or_a_link_to_count(
    client_for, approver, world, pending
):
    client = client_for(approver)
    change = reverse("admin:messaging_campaign_change", args=[pending.pk])
    page = client.get(change).content.decode()
    assert 'id="campaign-not-counted"' in page and preview_url(pending) in page
    client.get(preview_url(pending))  # counts, and keeps the figures
    page = client.get(change).content.decode()
    assert 'id="campaign-preview-figures"' in page and "1 of 2 members will receive it" in page
    assert 'id="campaign-counted-at"' in page


def test_the_list_shows_kept_figures_and_never_counts_itself(client_for, approver, world, pending):
    client = client_for(approver)
    url = reverse("admin:messaging_campaign_changelist")
    page = client.get(url).content.decode()
    assert 'class="campaign-count"' in page and "1 / 1" not in page
    client.get(preview_url(pending))
    assert "1 / 1" in client.get(url).content.decode()


def test_figures_are_kept_through_submission_and_dropped_by_an_edit(client_for, editor, world, draft):
    from messaging.admin_campaign_preview import kept_preview
    from messaging.campaigns.workflow import campaign_submit, campaign_update, campaign_withdraw
    from tests.messaging.campaigns.workflow_world import as_actor

    client_for(editor).get(preview_url(draft))
    pending = campaign_submit(campaign=draft, actor=as_actor(editor))
    assert kept_preview(pending)["receive"] == 1
    draft = campaign_withdraw(campaign=pending, actor=as_actor(editor))
    bindings = {**draft.bindings, "body": {**draft.bindings["body"]}}
    bindings["body"]["store"] = {"source": "literal", "value": "Köln", "fallback": "", "format": ""}
    edited = campaign_update(campaign=draft, actor=as_actor(editor), bindings=bindings)
    assert kept_preview(edited) is None


def test_submitting_counts_the_preview_in_the_background(
    client_for, editor, world, draft, monkeypatch, django_capture_on_commit_callbacks
):
    from django_q import tasks

    from messaging.admin_campaign_preview import COUNT_TASK, count_preview, kept_preview

    queued = []
    monkeypatch.setattr(tasks, "async_task", lambda func, *args, **kwargs: queued.append((func, args)))
    with django_capture_on_commit_callbacks(execute=True):
        client_for(editor).post(reverse("admin:messaging_campaign_do", args=[draft.pk, "submit"]))
    assert queued == [(COUNT_TASK, (draft.pk,))]
    draft.refresh_from_db()
    assert kept_preview(draft) is None
    count_preview(draft.pk)  # what the worker runs
    count_preview(draft.pk)  # safe twice
    assert kept_preview(draft)["receive"] == 1
    count_preview(424242)  # gone: nothing to do


# --- the bindings editor's variables -----------------------------------------------------------------


def test_the_variables_of_a_template_per_language(client_for, editor, reminder):
    url = reverse("admin:messaging_campaign_variables")
    data = client_for(editor).get(url, {"template": reminder.pk}).json()
    assert data["languages"] == ["en"] and data["default"] == "en" and data["media"] == ""
    slots = [(s["section"], s["name"]) for s in data["slots"]]
    assert slots == [
        ("header", "first_name"),
        ("body", "first_name"),
        ("body", "date"),
        ("body", "time"),
        ("body", "store"),
    ]


def test_the_variables_endpoint_refuses_bad_ids_and_readers(client_for, editor, approver, templates):
    url = reverse("admin:messaging_campaign_variables")
    client = client_for(editor)
    for value in ("", "abc", "99999", "9" * 40):
        response = client.get(url, {"template": value})
        assert response.status_code == 404 and "approved template" in response.json()["error"]
    assert client_for(approver).get(url, {"template": templates["order_update"].pk}).status_code == 403


def test_a_media_template_says_its_header_kind(client_for, editor, templates):
    url = reverse("admin:messaging_campaign_variables")
    data = client_for(editor).get(url, {"template": templates["spring_promotion"].pk}).json()
    assert data["media"] == "IMAGE"
    assert ("buttons", "2") in [(s["section"], s["name"]) for s in data["slots"]]


# --- test send ----------------------------------------------------------------------------------------


def test_a_test_with_sample_values_goes_to_the_test_number(client_for, editor, world, draft, test_number):
    response = client_for(editor).post(
        send_test_url(draft), {"test_number": test_number.pk, "values": "sample"}
    )
    assert response.status_code == 200
    message = OutboundMessage.objects.get()
    assert message.is_test and message.campaign == draft and message.contact == test_number.contact
    assert reverse("admin:messaging_outboundmessage_change", args=[message.pk]) in response.content.decode()


def test_a_test_as_a_member_uses_their_values(client_for, editor, world, draft, test_number):
    response = client_for(editor).post(
        send_test_url(draft), {"test_number": test_number.pk, "values": "member", "member": "Greta"}
    )
    assert response.context["sent"] is not None, response.context["form"].errors
    message = OutboundMessage.objects.get()
    assert message.contact == test_number.contact
    assert "Greta" in str(message.parameters)


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"values": "member", "member": ""}, "member", "name the member"),
        ({"values": "member", "member": "Nobody Here"}, "member", "no member"),
        ({"values": "member", "member": "#999999"}, "member", "no member"),
        ({"values": "sometimes"}, "values", "valid choice"),
        ({"test_number": "424242"}, "test_number", "valid choice"),
        ({"test_number": "abc"}, "test_number", "valid choice"),
    ],
)
def test_bad_test_send_input_is_refused_on_its_field(
    client_for, editor, world, draft, test_number, data, field, words
):
    posted = {"test_number": test_number.pk, "values": "sample", **data}
    response = client_for(editor).post(send_test_url(draft), posted)
    errors = response.context["form"].errors
    assert words in " ".join(errors[field]).lower(), errors
    assert not OutboundMessage.objects.exists()


def test_an_inactive_test_number_cannot_be_chosen(client_for, editor, world, draft, test_number):
    test_number.active = False
    test_number.save()
    response = client_for(editor).post(
        send_test_url(draft), {"test_number": test_number.pk, "values": "sample"}
    )
    assert "test_number" in response.context["form"].errors
    assert "no active staff test number" in response.content.decode().lower()


def test_a_test_number_without_consent_is_refused_by_the_send_path(client_for, editor, world, draft):
    number = TestNumberFactory(contact=ContactFactory(phone="+4915100000998"))
    response = client_for(editor).post(send_test_url(draft), {"test_number": number.pk, "values": "sample"})
    assert response.status_code == 200 and response.context["sent"] is None
    assert response.context["form"].errors
    assert not OutboundMessage.objects.exists()


@pytest.mark.parametrize("role", ["approver", "auditor", "support"])
def test_only_editors_send_tests(request, client_for, role, draft, test_number):
    client = client_for(request.getfixturevalue(role))
    assert client.get(send_test_url(draft)).status_code == 403
    assert (
        client.post(send_test_url(draft), {"test_number": test_number.pk, "values": "sample"}).status_code
        == 403
    )
    assert not OutboundMessage.objects.exists()


def test_the_preview_links_a_member_to_a_test_send(client_for, editor, world, draft, test_number):
    greta, _ = world
    client = client_for(editor)
    page = client.get(preview_url(draft, contact=greta.pk)).content.decode()
    assert f"{send_test_url(draft)}?member={greta.pk}" in page
    form = client.get(f"{send_test_url(draft)}?member={greta.pk}").context["form"]
    assert form.initial == {"values": "member", "member": f"#{greta.pk}"}

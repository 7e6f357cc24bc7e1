"""Merging two contacts from the admin: the action, the confirmation page, merged-away rows, and
who may do it (every role, including a direct GET or POST of the confirmation URL)."""

import re

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from contacts.merging import contact_merge
from contacts.models import ActivityLogEntry, ConsentSource, ConsentStatus, Contact, Purpose
from core.actors import Actor
from core.roles import ROLES
from messaging.models import MessageKind, OutboundMessage
from tests.factories import ContactFactory, UserFactory, opt_in, opt_out

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:contacts_contact_changelist")
MAY_MERGE = {"Editor"}


def merge_url(first, second, **params):
    url = reverse("admin:contacts_contact_merge", args=[first.pk, second.pk])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in params.items()) if params else "")


def run_action(client, *contacts, **extra):
    data = {"action": "merge_contacts", "_selected_action": [c.pk for c in contacts], **extra}
    return client.post(CHANGELIST + "?merged=all", data)


def notices(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def pair(db):
    """Two rows of one person: the import's (older, opted in) and the one a STOP created."""
    dialled = ContactFactory(phone="+5521987654321", first_name="Ana", last_name="Lima")
    opt_in(dialled)
    from_stop = ContactFactory(phone=None, wa_id="552187654321", first_name="", last_name="")
    opt_out(from_stop, source=ConsentSource.KEYWORD)
    OutboundMessage.objects.create(
        contact=from_stop, kind=MessageKind.TEXT, actor_kind="system", actor_label="tests"
    )
    return dialled, from_stop


# --- Who may ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_only_roles_that_may_merge_see_the_action(client_for, role, pair):
    user = UserFactory(username=f"user_{role.lower()}", role=role)
    response = client_for(user).get(CHANGELIST)
    if not user.has_perm("contacts.view_contact"):
        assert response.status_code == 403
        return
    action_form = response.context["action_form"]
    actions = [name for name, _ in action_form.fields["action"].choices] if action_form else []
    assert ("merge_contacts" in actions) == (role in MAY_MERGE)


@pytest.mark.parametrize("role", ROLES)
def test_only_roles_that_may_merge_reach_the_confirmation_page(client_for, role, pair):
    user = UserFactory(username=f"user_{role.lower()}", role=role)
    client = client_for(user)
    dialled, from_stop = pair
    page = client.get(merge_url(dialled, from_stop))
    confirm = client.post(merge_url(dialled, from_stop), {"survivor": dialled.pk, "reason": "one person"})
    action = run_action(client, dialled, from_stop)
    if role in MAY_MERGE:
        assert page.status_code == 200
        assert confirm.status_code == 302
        assert Contact.objects.get(pk=from_stop.pk).merged_into == dialled
    else:
        assert page.status_code == 403 and confirm.status_code == 403
        assert "merge_contacts" not in action.content.decode()  # not offered, and not run
        assert Contact.objects.get(pk=from_stop.pk).merged_into is None


def test_a_superuser_may_merge(admin_client, pair):
    dialled, from_stop = pair
    assert admin_client.get(merge_url(dialled, from_stop)).status_code == 200


def test_a_logged_out_visitor_is_sent_to_the_login_page(client, pair):
    response = client.get(merge_url(*pair))
    assert response.status_code == 302 and "/login/" in response["Location"]


# --- The action ------------------------------------------------------------------------------------


def test_the_action_with_two_contacts_leads_to_the_confirmation_page(client_for, editor, pair):
    dialled, from_stop = pair
    response = run_action(client_for(editor), from_stop, dialled)
    assert response.status_code == 302
    assert response["Location"] == merge_url(dialled, from_stop)


@pytest.mark.parametrize("count", [1, 3])
def test_the_action_needs_exactly_two_contacts(client_for, editor, pair, count):
    chosen = [*pair, ContactFactory()][:count]
    response = run_action(client_for(editor), *chosen)
    assert response.status_code == 302 and response["Location"].startswith(CHANGELIST)
    assert any("exactly two" in n and f"selected {count}" in n for n in notices(response))
    assert not Contact.objects.filter(merged_into__isnull=False).exists()


def test_the_action_refuses_a_merged_away_contact(client_for, editor, pair):
    dialled, from_stop = pair
    contact_merge(survivor=dialled, merged=from_stop, actor=Actor.system("tests"), reason="one")
    third = ContactFactory()
    response = run_action(client_for(editor), from_stop, third)
    assert any("already merged into" in n for n in notices(response))


# --- The confirmation page -------------------------------------------------------------------------


def test_the_page_shows_both_contacts_what_survives_consent_before_and_after_and_what_moves(
    client_for, editor, pair
):
    dialled, from_stop = pair
    response = client_for(editor).get(merge_url(dialled, from_stop))
    assert response.status_code == 200
    preview = response.context["preview"]
    assert (preview.survivor, preview.merged) == (dialled, from_stop)  # the older row survives
    marketing = next(line for line in preview.consent if line.purpose == Purpose.MARKETING)
    assert (marketing.survivor, marketing.merged, marketing.after) == (
        ConsentStatus.OPTED_IN,
        ConsentStatus.OPTED_OUT,
        ConsentStatus.OPTED_OUT,
    )
    html = response.content.decode()
    for shown in ("+5521987654321", "552187654321", "Opted out", "outbound messages", "1 consent event"):
        assert shown in html, shown
    assert Contact.objects.get(pk=from_stop.pk).merged_into is None  # looking writes nothing


def test_staff_can_choose_which_contact_survives(client_for, editor, pair):
    dialled, from_stop = pair
    client = client_for(editor)
    response = client.get(merge_url(dialled, from_stop, survivor=from_stop.pk))
    assert response.context["preview"].survivor == from_stop
    client.post(
        merge_url(dialled, from_stop), {"survivor": from_stop.pk, "reason": "the WhatsApp row is right"}
    )
    assert Contact.objects.get(pk=dialled.pk).merged_into == from_stop


def test_confirming_merges_logs_who_did_it_and_shows_the_survivor(client_for, editor, pair):
    dialled, from_stop = pair
    response = client_for(editor).post(
        merge_url(dialled, from_stop), {"survivor": dialled.pk, "reason": "Same person: ninth digit"}
    )
    assert response["Location"] == reverse("admin:contacts_contact_change", args=[dialled.pk])
    assert any("merged into" in n for n in notices(response))
    entry = ActivityLogEntry.objects.get(action="contact.merged")
    assert entry.actor_user == editor and entry.details["reason"] == "Same person: ninth digit"
    assert dialled.consents.get(purpose=Purpose.MARKETING).status == ConsentStatus.OPTED_OUT


def test_confirming_without_a_reason_shows_the_error_and_merges_nothing(client_for, editor, pair):
    dialled, from_stop = pair
    response = client_for(editor).post(merge_url(dialled, from_stop), {"survivor": dialled.pk, "reason": " "})
    assert response.status_code == 200
    assert "Say why" in " ".join(response.context["form"].errors["reason"])
    assert Contact.objects.get(pk=from_stop.pk).merged_into is None


@pytest.mark.parametrize(
    "case,notice",
    [
        ("same contact", "cannot be merged into itself"),
        ("missing contact", "does not exist"),
        ("survivor not one of the two", "must be one of the two"),
        ("already merged", "already merged into"),
    ],
)
def test_bad_input_on_the_confirmation_url_gives_a_clear_message_not_an_error(
    client_for, editor, pair, case, notice
):
    dialled, from_stop = pair
    client = client_for(editor)
    third = ContactFactory()
    if case == "same contact":
        url = merge_url(dialled, dialled)
    elif case == "missing contact":
        url = reverse("admin:contacts_contact_merge", args=[dialled.pk, 999999])
    elif case == "survivor not one of the two":
        url = merge_url(dialled, from_stop, survivor=third.pk)
    else:
        contact_merge(survivor=third, merged=from_stop, actor=Actor.system("tests"), reason="one")
        url = merge_url(dialled, from_stop)
    posted = third.pk if case == "survivor not one of the two" else dialled.pk
    for response in (client.get(url), client.post(url, {"survivor": posted, "reason": "x"})):
        assert response.status_code == 302, case
        assert any(notice in n for n in notices(response)), (case, notices(response))
    assert Contact.objects.filter(merged_into=dialled).count() == 0


def test_a_survivor_that_is_not_a_number_is_refused_clearly(client_for, editor, pair):
    response = client_for(editor).get(merge_url(*pair, survivor="abc"))
    assert response.status_code == 302
    assert any("must be one of the two" in n for n in notices(response))


# --- Merged-away rows in the admin ---------------------------------------------------------------


@pytest.fixture
def merged_pair(pair):
    dialled, from_stop = pair
    contact_merge(survivor=dialled, merged=from_stop, actor=Actor.system("tests"), reason="one person")
    return dialled, from_stop


def test_a_merged_away_contact_is_shown_read_only_with_a_link_to_the_survivor(
    client_for, editor, merged_pair
):
    dialled, from_stop = merged_pair
    url = reverse("admin:contacts_contact_change", args=[from_stop.pk])
    response = client_for(editor).get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert reverse("admin:contacts_contact_change", args=[dialled.pk]) in html
    assert 'name="_save"' not in html
    assert "Record opt-in" not in html and "Record opt-out" not in html
    response = client_for(editor).post(
        url, {"phone": "+4915100000000", "first_name": "X", "attributes": "{}"}
    )
    assert response.status_code == 403
    assert Contact.objects.get(pk=from_stop.pk).phone is None


def test_the_list_hides_merged_away_contacts_unless_asked(client_for, editor, merged_pair):
    dialled, from_stop = merged_pair
    client = client_for(editor)
    assert list(client.get(CHANGELIST).context["cl"].result_list) == [dialled]
    assert list(client.get(CHANGELIST, {"merged": "yes"}).context["cl"].result_list) == [from_stop]
    assert set(client.get(CHANGELIST, {"merged": "all"}).context["cl"].result_list) == {dialled, from_stop}


def test_searching_a_merged_away_rows_number_finds_the_survivor(client_for, editor, merged_pair):
    dialled, _ = merged_pair
    response = client_for(editor).get(CHANGELIST, {"q": "+55 21 8765-4321"})
    assert list(response.context["cl"].result_list) == [dialled]


def test_searching_either_form_of_a_number_finds_the_contact(client_for, editor):
    person = ContactFactory(phone="+5521987654321")
    ContactFactory(phone="+4915100000000")
    client = client_for(editor)
    for typed in ("+55 21 98765-4321", "+552187654321"):
        assert list(client.get(CHANGELIST, {"q": typed}).context["cl"].result_list) == [person], typed


def test_recording_consent_on_a_merged_away_contact_leads_to_the_survivor(client_for, editor, merged_pair):
    dialled, from_stop = merged_pair
    url = reverse("admin:contacts_contact_record_consent", args=[from_stop.pk, "opt_out"])
    response = client_for(editor).get(url)
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:contacts_contact_change", args=[dialled.pk])
    assert any("merged into" in n for n in notices(response))


def test_the_reason_starts_empty_so_someone_has_to_write_one(client_for, editor, pair):
    page = client_for(editor).get(merge_url(*pair)).content.decode()
    textarea = re.search(r"<textarea[^>]*name=\"reason\"[^>]*>(.*?)</textarea>", page, re.S)
    assert textarea is not None and textarea.group(1).strip() == ""

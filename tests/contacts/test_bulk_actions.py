"""Bulk actions on the contact list: tags, language and an opt-out for the selected people, each
set-based (the query count does not depend on how many are selected), logged once, offered only
to the roles that may, and refusing bad input with nothing written."""

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from contacts.bulk import TAG_NAME_MAX, contacts_add_tags, contacts_record_opt_out
from contacts.merging import contact_merge
from contacts.models import (
    ActivityLogEntry,
    ConsentAction,
    ConsentEvent,
    ConsentSource,
    ConsentStatus,
    Contact,
    CurrentConsent,
    Purpose,
    Tag,
)
from contacts.selectors import deciding_event
from core.actors import Actor
from core.errors import ApplicationError
from core.roles import ROLES
from tests.factories import ContactFactory, TagFactory, UserFactory, opt_in

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:contacts_contact_changelist")
MAY = {
    "add_tags": {"Editor"},
    "remove_tags": {"Editor"},
    "set_language": {"Editor"},
    "record_opt_out": {"Editor", "Support"},
}
# A valid input for each action.
INPUT = {
    "add_tags": {"tags": "VIP"},
    "remove_tags": {"tags": "VIP"},
    "set_language": {"language": "pt_BR"},
    "record_opt_out": {"purpose": "all", "reason": "Asked by email to receive nothing more"},
}
BULK_LOG_ACTIONS = (
    "contact.bulk_tags_added",
    "contact.bulk_tags_removed",
    "contact.bulk_language_set",
    "consent.bulk_opt_out_recorded",
)


def make_people(n, **fields):
    """``n`` contacts in one statement (the query-count tests need hundreds quickly)."""
    return Contact.objects.bulk_create([ContactFactory.build(**fields) for _ in range(n)])


def choose(client, action, people, *, params="", select_across=False):
    """The list's first POST: the action and the ticked rows. Returns the intermediate page."""
    return client.post(
        CHANGELIST + params,
        {
            "action": action,
            "index": 0,
            "select_across": "1" if select_across else "0",
            "_selected_action": [p.pk for p in people],
        },
    )


def apply(client, action, people, data, *, params="", select_across=False):
    """The intermediate page's submit (as its hidden fields send it)."""
    return client.post(
        CHANGELIST + params,
        {
            "action": action,
            "select_across": "1" if select_across else "0",
            "_selected_action": [p.pk for p in people],
            "_bulk_apply": "1",
            **data,
        },
    )


def notices(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def tag_names(contact):
    return sorted(contact.tags.values_list("name", flat=True))


def nothing_written():
    return not ActivityLogEntry.objects.filter(action__in=BULK_LOG_ACTIONS).exists()


@pytest.fixture
def editor_client(client_for, editor):
    return client_for(editor)


# --- Who may ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_each_action_is_offered_only_to_who_may(client_for, role, contact):
    user = UserFactory(username=f"user_{role.lower()}", role=role)
    response = client_for(user).get(CHANGELIST)
    if not user.has_perm("contacts.view_contact"):
        assert response.status_code == 403
        return
    action_form = response.context["action_form"]
    offered = {name for name, _ in action_form.fields["action"].choices} if action_form else set()
    for action, roles in MAY.items():
        assert (action in offered) == (role in roles), action
    # Deletion is one contact at a time, on its page (where a consent ledger refuses it).
    assert "delete_selected" not in offered


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", MAY)
def test_a_forged_post_of_an_action_not_offered_changes_nothing(client_for, role, action):
    if role in MAY[action]:
        return
    people = make_people(2, language="de")
    people[0].tags.add(TagFactory(name="VIP"))
    client = client_for(UserFactory(username=f"user_{role.lower()}", role=role))
    for response in (
        choose(client, action, people),
        apply(client, action, people, INPUT[action]),
        apply(client, action, people, INPUT[action], select_across=True),
    ):
        if role == "Administrator":  # no access to contacts at all
            assert response.status_code == 403
        elif any(role in roles for roles in MAY.values()):  # other actions: this one is not among them
            assert response.status_code == 302
            assert notices(response)[-1] == "No action selected."
        else:  # no actions at all: the POST is only a look at the list
            assert response.status_code == 200
            assert response.templates[0].name == "admin/contacts/contact/change_list.html"
    assert tag_names(people[0]) == ["VIP"]
    assert tag_names(people[1]) == []
    assert set(Contact.objects.values_list("language", flat=True)) == {"de"}
    assert not ConsentEvent.objects.exists()
    assert nothing_written()


@pytest.mark.parametrize("action", MAY)
def test_each_action_asks_first_then_applies(editor_client, action):
    people = make_people(3)
    if action == "remove_tags":
        TagFactory(name="VIP")
    page = choose(editor_client, action, people)
    assert page.status_code == 200
    assert page.templates[0].name == "admin/contacts/contact/bulk_action.html"
    assert "for <strong>3 contacts</strong>" in page.content.decode()
    assert nothing_written()
    response = apply(editor_client, action, people, INPUT[action])
    assert response.status_code == 302
    assert response["Location"] == CHANGELIST
    (entry,) = ActivityLogEntry.objects.filter(action__in=BULK_LOG_ACTIONS)
    assert entry.details["count"] == 3
    assert entry.details["selection"] == {"ids": [str(p.pk) for p in people], "filters": {}}


# --- Tags --------------------------------------------------------------------------------------------


def test_add_tags_makes_missing_tags_case_insensitively_and_keeps_existing_links(editor_client, editor):
    vip = TagFactory(name="VIP")
    anna, bert = make_people(2)
    anna.tags.add(vip)
    response = apply(editor_client, "add_tags", [anna, bert], {"tags": "vip, Autumn 2026 ,autumn 2026"})
    assert notices(response) == ["Tags vip, Autumn 2026 added to 2 contacts (3 new tag links)."]
    assert sorted(Tag.objects.values_list("name", flat=True)) == ["Autumn 2026", "VIP"]
    assert tag_names(anna) == tag_names(bert) == ["Autumn 2026", "VIP"]
    (entry,) = ActivityLogEntry.objects.filter(action="contact.bulk_tags_added")
    assert entry.actor_user == editor
    assert entry.details["tags"] == ["Autumn 2026", "VIP"]
    assert entry.details["links_added"] == 3
    # Again: nothing new.
    apply(editor_client, "add_tags", [anna, bert], {"tags": "VIP"})
    assert (
        ActivityLogEntry.objects.filter(action="contact.bulk_tags_added").first().details["links_added"] == 0
    )


def test_remove_tags_takes_them_off_and_keeps_the_tags(editor_client):
    vip, other = TagFactory(name="VIP"), TagFactory(name="Other")
    anna, bert, carl = make_people(3)
    for person in (anna, bert, carl):
        person.tags.add(vip, other)
    response = apply(editor_client, "remove_tags", [anna, bert], {"tags": "vip"})
    assert notices(response) == ["Tags vip removed from 2 contacts (2 tag links removed)."]
    assert tag_names(anna) == tag_names(bert) == ["Other"]
    assert tag_names(carl) == ["Other", "VIP"]
    assert Tag.objects.filter(name="VIP").exists()


@pytest.mark.parametrize(
    "action,tags,error",
    [
        ("add_tags", "", "Name at least one tag."),
        ("add_tags", "   ", "Name at least one tag."),
        ("add_tags", "VIP, , new", "A tag name is blank"),
        ("add_tags", "x" * (TAG_NAME_MAX + 1), f"a tag name has at most {TAG_NAME_MAX}"),
        ("remove_tags", "VIP, ", "A tag name is blank"),
        ("remove_tags", "VIP, Nope", "There is no tag named “Nope”: nothing was removed."),
    ],
)
def test_bad_tag_input_is_a_form_error_and_writes_nothing(editor_client, action, tags, error):
    TagFactory(name="VIP")
    people = make_people(2)
    response = apply(editor_client, action, people, {"tags": tags})
    assert response.status_code == 200
    assert error in response.context["form"].errors["tags"][0]
    assert list(Tag.objects.values_list("name", flat=True)) == ["VIP"]
    assert not Contact.tags.through.objects.exists()
    assert nothing_written()


def test_who_may_not_make_tags_may_only_add_existing_ones(client_for):
    from django.contrib.auth.models import Permission

    tagger = UserFactory(username="tagger", role="Support")
    tagger.user_permissions.add(Permission.objects.get(codename="change_contact"))
    TagFactory(name="VIP")
    person = ContactFactory()
    response = apply(client_for(tagger), "add_tags", [person], {"tags": "VIP, Brand new"})
    assert "There is no tag named “Brand new”" in response.context["form"].errors["tags"][0]
    assert not Tag.objects.filter(name="Brand new").exists()
    assert nothing_written()


# --- Language ----------------------------------------------------------------------------------------


def test_set_language(editor_client):
    anna, bert = make_people(2, language="de")
    bert.language = "pt_BR"
    bert.save()
    response = apply(editor_client, "set_language", [anna, bert], {"language": "pt_BR"})
    assert notices(response) == ["Language set to Portuguese (Brazil) (pt_BR) for 2 contacts (1 changed)."]
    assert set(Contact.objects.values_list("language", flat=True)) == {"pt_BR"}


def test_the_language_form_starts_blank_and_requires_a_choice(editor_client):
    people = make_people(2, language="de")
    page = choose(editor_client, "set_language", people).content.decode()
    first = page.split('<select name="language"', 1)[1].split("</option>", 1)[0]
    assert first.endswith('<option value="" selected>— choose a language —')
    response = apply(editor_client, "set_language", people, {})
    assert response.status_code == 200
    assert response.context["form"].errors["language"] == ["Choose the language to set."]
    assert "Choose the language to set." in response.content.decode()
    assert set(Contact.objects.values_list("language", flat=True)) == {"de"}
    assert nothing_written()


@pytest.mark.parametrize("language", ["", "xx", "pt-br", "de_DE"])
def test_a_language_whatsapp_does_not_have_is_refused(editor_client, language):
    people = make_people(2, language="de")
    response = apply(editor_client, "set_language", people, {"language": language})
    assert response.status_code == 200
    assert response.context["form"].errors["language"]
    assert set(Contact.objects.values_list("language", flat=True)) == {"de"}
    assert nothing_written()


# --- Opt-out -----------------------------------------------------------------------------------------


def test_support_records_an_opt_out_for_the_selected_people(client_for, support):
    anna, bert, carl = make_people(3)
    for person in (anna, bert):
        opt_in(person, Purpose.MARKETING)
        opt_in(person, Purpose.SERVICE)
    response = apply(
        client_for(support),
        "record_opt_out",
        [anna, bert],
        {"purpose": "marketing", "reason": " Asked by phone "},
    )
    assert notices(response) == ["Opt-out of marketing recorded for 2 contacts (2 consent events)."]
    for person in (anna, bert):
        event = ConsentEvent.objects.get(contact=person, action=ConsentAction.OPT_OUT)
        assert event.purpose == Purpose.MARKETING
        assert event.source == ConsentSource.STAFF
        assert event.evidence == {
            "reason": "Asked by phone",
            "bulk": True,
            "selected": 2,
            "by": "sam_support",
        }
        assert (event.actor_kind, event.actor_user, event.actor_ref, event.actor_label) == (
            "user",
            support,
            str(support.pk),
            "sam_support",
        )
        assert event.occurred_at == event.recorded_at == event.effective_at
        marketing = CurrentConsent.objects.get(contact=person, purpose=Purpose.MARKETING)
        assert (marketing.status, marketing.event) == (ConsentStatus.OPTED_OUT, event)
        assert (
            CurrentConsent.objects.get(contact=person, purpose=Purpose.SERVICE).status
            == ConsentStatus.OPTED_IN
        )
    assert not ConsentEvent.objects.filter(contact=carl).exists()
    (entry,) = ActivityLogEntry.objects.filter(action="consent.bulk_opt_out_recorded")
    assert entry.details["count"] == 2
    assert entry.details["events"] == 2
    assert entry.details["purposes"] == ["marketing"]
    assert entry.details["reason"] == "Asked by phone"
    # One entry for the whole action, not one per event as record_consent writes.
    assert not ActivityLogEntry.objects.filter(action="consent.recorded", actor_user=support).exists()


def test_an_opt_out_for_both_purposes_wins_the_order_rule(editor_client):
    """An opt-in dated later than the bulk opt-out (a clock ahead) counts from when it was recorded,
    which is earlier: the opt-out decides, as ``deciding_event`` says for each person."""
    ahead, plain, never = make_people(3)
    opt_in(ahead, Purpose.MARKETING, occurred_at=timezone.now() + timedelta(minutes=4))
    opt_in(plain, Purpose.SERVICE)
    apply(editor_client, "record_opt_out", [ahead, plain, never], INPUT["record_opt_out"])
    for person in (ahead, plain, never):
        for purpose in Purpose.values:
            current = CurrentConsent.objects.get(contact=person, purpose=purpose)
            assert current.status == ConsentStatus.OPTED_OUT
            assert current.event == deciding_event(contact=person, purpose=purpose)
            assert current.event.action == ConsentAction.OPT_OUT
    later_opt_in = ConsentEvent.objects.get(contact=ahead, action=ConsentAction.OPT_IN)
    assert (
        later_opt_in.occurred_at
        > CurrentConsent.objects.get(contact=ahead, purpose="marketing").event.occurred_at
    )


def test_a_merged_away_selection_is_recorded_on_the_survivor(editor_client):
    survivor, merged, alone = make_people(3)
    opt_in(survivor)
    contact_merge(survivor=survivor, merged=merged, actor=Actor.system("tests"), reason="same person")
    # Only merged-away rows shown and ticked; the survivor and its merged-away row both ticked.
    page = choose(editor_client, "record_opt_out", [merged], params="?merged=yes")
    assert "1 of the selected rows was merged into another contact" in page.content.decode()
    data = {"purpose": "marketing", "reason": "Asked in the shop"}
    apply(editor_client, "record_opt_out", [merged, survivor, alone], data, params="?merged=all")
    assert not ConsentEvent.objects.filter(contact=merged, source=ConsentSource.STAFF).exists()
    assert ConsentEvent.objects.filter(contact=survivor, action=ConsentAction.OPT_OUT).count() == 1
    assert CurrentConsent.objects.get(contact=survivor, purpose="marketing").status == ConsentStatus.OPTED_OUT
    assert ConsentEvent.objects.get(contact=alone).evidence["selected"] == 2  # two people
    assert not CurrentConsent.objects.filter(contact=merged, purpose="marketing", status="opted_out").exists()


def test_merged_away_rows_stand_for_their_survivor_in_every_action(editor_client):
    survivor, merged = make_people(2, language="de")
    contact_merge(survivor=survivor, merged=merged, actor=Actor.system("tests"), reason="same person")
    apply(editor_client, "add_tags", [merged], {"tags": "VIP"}, params="?merged=yes")
    apply(editor_client, "set_language", [merged], {"language": "fr"}, params="?merged=yes")
    survivor.refresh_from_db()
    merged.refresh_from_db()
    assert (tag_names(survivor), survivor.language) == (["VIP"], "fr")
    assert (tag_names(merged), merged.language) == ([], "de")  # evidence: unchanged


@pytest.mark.parametrize(
    "data,field",
    [
        ({"purpose": "marketing", "reason": ""}, "reason"),
        ({"purpose": "marketing", "reason": "   "}, "reason"),
        ({"purpose": "marketing", "reason": "x" * 501}, "reason"),
        ({"purpose": "newsletter", "reason": "Asked"}, "purpose"),
        ({"reason": "Asked"}, "purpose"),
    ],
)
def test_an_opt_out_without_a_reason_or_purpose_is_refused(editor_client, data, field):
    people = make_people(2)
    response = apply(editor_client, "record_opt_out", people, data)
    assert response.status_code == 200
    assert response.context["form"].errors[field]
    assert not ConsentEvent.objects.exists()
    assert nothing_written()


def test_the_services_refuse_bad_input_themselves():
    people = Contact.objects.filter(pk__in=[p.pk for p in make_people(2)])
    actor = Actor.system("tests")
    with pytest.raises(ApplicationError) as refused:
        contacts_record_opt_out(contacts=people, purposes=["marketing"], reason=" ", actor=actor)
    assert refused.value.code == "reason_required"
    with pytest.raises(ApplicationError) as refused:
        contacts_record_opt_out(contacts=people, purposes=["news"], reason="Asked", actor=actor)
    assert refused.value.code == "invalid_purpose"
    with pytest.raises(ApplicationError) as refused:
        contacts_add_tags(contacts=people, tag_names=["ok", ""], actor=actor)
    assert refused.value.code == "tag_name_blank"
    assert not ConsentEvent.objects.exists()
    assert not Tag.objects.exists()
    assert nothing_written()


# --- Selections -------------------------------------------------------------------------------------


def test_nothing_selected_says_so(editor_client):
    make_people(2)
    response = editor_client.post(CHANGELIST, {"action": "add_tags", "index": 0, "select_across": "0"})
    assert notices(response) == [
        "Items must be selected in order to perform actions on them. No items have been changed."
    ]
    assert nothing_written()


def test_a_selection_of_contacts_gone_meanwhile_says_so(editor_client):
    people = make_people(2)
    Contact.objects.filter(pk__in=[p.pk for p in people]).delete()
    for response in (
        choose(editor_client, "add_tags", people),
        apply(editor_client, "add_tags", people, INPUT["add_tags"]),
    ):
        assert response.status_code == 302
        assert notices(response)[-1] == "None of the selected contacts exist any more: nothing was changed."
    assert not Tag.objects.exists()
    assert nothing_written()


def test_select_all_across_pages_applies_to_every_contact_the_filters_match(editor_client, settings):
    # The list's count is estimated above this (on PostgreSQL); the action must not depend on it.
    settings.ADMIN_ESTIMATED_COUNT_THRESHOLD = 10
    vip = TagFactory(name="VIP")
    tagged = make_people(60, language="de")
    Contact.tags.through.objects.bulk_create(
        [Contact.tags.through(contact_id=p.pk, tag_id=vip.pk) for p in tagged]
    )
    untagged = make_people(5, language="de")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE contacts_contact")
    params = f"?tags__id__exact={vip.pk}"
    listed = editor_client.get(CHANGELIST + params)
    assert listed.status_code == 200
    page = tagged[-50:]  # the first page: newest first
    assert choose(editor_client, "set_language", page, params=params, select_across=True).status_code == 200
    response = apply(
        editor_client, "set_language", page, {"language": "es"}, params=params, select_across=True
    )
    assert notices(response) == ["Language set to Spanish (es) for 60 contacts (60 changed)."]
    assert set(Contact.objects.filter(tags=vip).values_list("language", flat=True)) == {"es"}
    assert set(
        Contact.objects.filter(pk__in=[p.pk for p in untagged]).values_list("language", flat=True)
    ) == {"de"}
    entry = ActivityLogEntry.objects.get(action="contact.bulk_language_set")
    assert entry.details["selection"] == {"all_matching": True, "filters": {"tags__id__exact": str(vip.pk)}}
    # The unfiltered list too (the estimated count on PostgreSQL).
    apply(editor_client, "set_language", page, {"language": "fr"}, select_across=True)
    assert set(Contact.objects.values_list("language", flat=True)) == {"fr"}


# --- Set-based: the query count does not depend on the selection ---------------------------------------


def queries_of(client, action, people, *, select_across=False):
    cache.clear()
    with CaptureQueriesContext(connection) as captured:
        page = choose(client, action, people, select_across=select_across)
    assert page.status_code == 200
    asking = len(captured.captured_queries)
    cache.clear()
    with CaptureQueriesContext(connection) as captured:
        response = apply(client, action, people, INPUT[action], select_across=select_across)
    assert response.status_code == 302, response.content[:2000]
    return asking, [q["sql"] for q in captured.captured_queries]


@pytest.mark.parametrize("select_across", [False, True], ids=["ticked", "all"])
@pytest.mark.parametrize("action", MAY)
def test_the_query_count_does_not_depend_on_the_selection(editor_client, action, select_across):
    vip = TagFactory(name="VIP")

    def people(n):
        made = make_people(n)
        Contact.tags.through.objects.bulk_create(
            [Contact.tags.through(contact_id=p.pk, tag_id=vip.pk) for p in made]
        )
        for person in made[:2]:
            opt_in(person)
        return made

    few = people(3)
    asking_few, applying_few = queries_of(editor_client, action, few, select_across=select_across)
    Contact.objects.filter(pk__in=[p.pk for p in few]).update(language="de")
    # 120: ticked rows beyond one page (50), as "show all" allows, and within one INSERT on SQLite
    # (Django splits a bulk insert there at 999 parameters: 124 rows of the ledger chain's links).
    many = people(117) + few
    asking_many, applying_many = queries_of(editor_client, action, many, select_across=select_across)
    assert asking_many == asking_few
    assert len(applying_many) == len(applying_few), "\n".join(applying_many)

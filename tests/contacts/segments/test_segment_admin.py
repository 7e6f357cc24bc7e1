"""The segment editor, the custom fields and the static lists in the admin, for each role."""

import json

import pytest
from django.urls import reverse

from contacts.models import ActivityLogEntry, AttributeDefinition, ContactList, ImportStatus, Segment
from contacts.segments.services import segment_create
from core.actors import Actor
from tests.contacts.segments.test_contact_lists import make_import
from tests.factories import ContactFactory, TagFactory, UserFactory

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("tests")
VIP = {"op": "all", "rules": [{"kind": "tag", "tag": "vip"}]}
ADD = reverse("admin:contacts_segment_add")
CHANGELIST = reverse("admin:contacts_segment_changelist")
CONTACTS = reverse("admin:contacts_contact_changelist")


@pytest.fixture(autouse=True)
def world(db):
    vip = TagFactory(name="vip")
    ana = ContactFactory(first_name="Anaïs", last_name="Vip")
    ana.tags.add(vip)
    ContactFactory(first_name="Bertrand", last_name="Plain")
    AttributeDefinition.objects.create(key="orders", type="number")


def change_url(segment):
    return reverse("admin:contacts_segment_change", args=[segment.pk])


def form_data(rules, versions=0, **extra):
    """The form as the browser posts it, with the (read-only) version list's management form."""
    management = {
        "versions-TOTAL_FORMS": versions,
        "versions-INITIAL_FORMS": versions,
        "versions-MIN_NUM_FORMS": 0,
        "versions-MAX_NUM_FORMS": 1000,
    }
    return {"name": "VIPs", "description": "", "rules": json.dumps(rules), **management, **extra}


def test_an_editor_creates_a_segment_through_the_service(client_for, editor):
    client = client_for(editor)
    page = client.get(ADD)
    assert page.status_code == 200
    assert b'id="segment-editor-config"' in page.content and b"segment_editor.js" in page.content
    response = client.post(ADD, form_data(VIP))
    assert response.status_code == 302, response.content
    segment = Segment.objects.get()
    assert (segment.version, segment.rules, segment.created_by) == (1, VIP, editor)
    assert ActivityLogEntry.objects.filter(action="segment.created", object_id=str(segment.pk)).exists()


def test_an_editor_changes_the_rules_and_a_version_is_added(client_for, editor):
    segment = segment_create(name="VIPs", rules=VIP, actor=SYSTEM)
    client = client_for(editor)
    page = client.get(change_url(segment))
    assert b"View 1 member" in page.content and f"?segment={segment.pk}".encode() in page.content
    rules = {"op": "none", "rules": [{"kind": "tag", "tag": "vip"}]}
    response = client.post(change_url(segment), form_data(rules, versions=1, archived=""))
    assert response.status_code == 302, response.content
    segment.refresh_from_db()
    assert (segment.version, segment.rules) == (2, rules)
    page = client.get(change_url(segment))
    assert page.content.count(b'class="segment-rules-json"') == 2  # the version history
    assert "None of:\n    • has tag “vip”".encode() in page.content  # the saved rules, in words


def test_a_refused_rule_is_named_and_marked_for_the_editor(client_for, editor):
    client = client_for(editor)
    bad = {
        "op": "all",
        "rules": [
            {"kind": "tag", "tag": "vip"},
            {"op": "any", "rules": [{"kind": "attribute", "key": "age", "operator": "gt", "value": 3}]},
        ],
    }
    response = client.post(ADD, form_data(bad))
    assert response.status_code == 200
    message = (
        "Rule 2 › rule 1 (custom field “age” greater than 3): There is no custom field “age”: "
        + "declare it under Custom fields first."
    )
    assert message in response.content.decode()
    config = response.context["segment_editor"]
    assert config["error"] == {"path": [1, 0], "field": "key", "message": message}
    # What was typed is kept, so it can be fixed.
    assert '"age"' in response.context["adminform"].form["rules"].value()
    assert Segment.objects.count() == 0


@pytest.mark.parametrize("text", ["{not json", "[]"])
def test_unreadable_rules_are_refused(client_for, editor, text):
    response = client_for(editor).post(ADD, {"name": "X", "description": "", "rules": text})
    assert response.status_code == 200 and Segment.objects.count() == 0
    assert response.context["adminform"].form.errors["rules"]


def test_the_live_count(client_for, editor):
    segment = segment_create(name="VIPs", rules=VIP, actor=SYSTEM)
    client = client_for(editor)
    url = reverse("admin:contacts_segment_count", args=[segment.pk])
    assert client.post(url, {"rules": json.dumps(VIP)}).json() == {"count": 1}
    none = {"op": "none", "rules": [{"kind": "tag", "tag": "vip"}]}
    assert client.post(reverse("admin:contacts_segment_count_new"), {"rules": json.dumps(none)}).json() == {
        "count": 1
    }
    refused = client.post(
        url, {"rules": json.dumps({"op": "all", "rules": [{"kind": "in_segment", "segment": segment.pk}]})}
    )
    assert refused.status_code == 400
    assert refused.json() == {
        "error": "Rule 1 (member of segment “VIPs”): A segment cannot include itself.",
        "path": [0],
        "field": "segment",
    }
    assert client.post(url, {"rules": "{"}).json()["error"].startswith("The rules are not valid JSON")
    assert client.get(url).status_code == 405


@pytest.mark.parametrize("role", ["Approver", "Auditor"])
def test_approvers_and_auditors_only_read(client_for, role):
    segment = segment_create(name="VIPs", rules=VIP, actor=SYSTEM)
    client = client_for(UserFactory(role=role))
    assert client.get(CHANGELIST).status_code == 200
    page = client.get(change_url(segment))
    assert page.status_code == 200
    assert b'name="rules"' not in page.content and b'name="_save"' not in page.content
    assert b"segment-editor-config" not in page.content
    # The rules in words, the JSON folded below them.
    assert '<div class="segment-rules-summary">All of:\n    • has tag “vip”</div>'.encode() in page.content
    assert b'<details class="segment-rules-json"><summary>The rules as JSON</summary>' in page.content
    assert client.get(ADD).status_code == 403
    assert (
        client.post(change_url(segment), form_data({"op": "none", "rules": VIP["rules"]})).status_code == 403
    )
    assert (
        client.post(reverse("admin:contacts_segment_count", args=[segment.pk]), {"rules": "{}"}).status_code
        == 403
    )
    segment.refresh_from_db()
    assert segment.version == 1


def test_support_sees_no_segments(client_for, support):
    segment = segment_create(name="VIPs", rules=VIP, actor=SYSTEM)
    client = client_for(support)
    assert client.get(CHANGELIST).status_code == 403
    assert client.get(change_url(segment)).status_code == 403


@pytest.mark.parametrize("role", ["Editor", "Approver", "Auditor", "Support", "Administrator"])
def test_nobody_deletes_segments_or_versions(client_for, role, admin_user):
    segment = segment_create(name="VIPs", rules=VIP, actor=SYSTEM)
    user = UserFactory(role=role)
    assert not user.has_perm("contacts.delete_segment")
    assert not user.has_perm("contacts.delete_segmentversion")
    assert not user.has_perm("contacts.change_segmentversion")
    for who in (user, admin_user):
        response = client_for(who).post(
            reverse("admin:contacts_segment_delete", args=[segment.pk]), {"post": "yes"}
        )
        assert response.status_code == 403
    assert Segment.objects.filter(pk=segment.pk).exists() and segment.versions.count() == 1


def test_archiving_in_the_form(client_for, editor):
    vips = segment_create(name="VIPs", rules=VIP, actor=SYSTEM)
    segment_create(
        name="Uses", rules={"op": "all", "rules": [{"kind": "in_segment", "segment": vips.pk}]}, actor=SYSTEM
    )
    client = client_for(editor)
    response = client.post(change_url(vips), form_data(VIP, versions=1, archived="on"))
    assert response.status_code == 200
    assert "Included by “Uses”: change those segments first." in response.content.decode()
    vips.refresh_from_db()
    assert not vips.archived


# --- the contact list filtered to a segment or a list ----------------------------------------------


def test_the_member_list_in_the_contacts_changelist(admin_client):
    segment = segment_create(name="VIPs", rules=VIP, actor=SYSTEM)
    page = admin_client.get(CONTACTS, {"segment": segment.pk})
    assert page.status_code == 200
    assert b"Ana\xc3\xafs" in page.content and b"Bertrand" not in page.content
    assert page.context["title"] == "Members of segment “VIPs”"
    assert "<h1>Members of segment “VIPs”</h1>" in page.content.decode()
    listed = ContactList.objects.create(name="Fair", size=0)
    page = admin_client.get(CONTACTS, {"list": listed.pk})
    assert page.context["title"] == "Members of static list “Fair”"
    assert admin_client.get(CONTACTS).context["title"] == "Select contact to change"
    # The audiences come first, above the long lists of languages and countries.
    specs = admin_client.get(CONTACTS).context["cl"].filter_specs
    assert [spec.title for spec in specs[:2]] == ["segment", "static list"]
    # An id that is not a segment is a bad filter, not a 500.
    assert admin_client.get(CONTACTS, {"segment": "abc"}).status_code == 302
    assert admin_client.get(CONTACTS, {"segment": 999999}).status_code == 302


# --- custom fields -------------------------------------------------------------------------------


def test_a_custom_field_a_segment_uses_keeps_its_type_and_cannot_be_deleted(client_for, editor):
    orders = AttributeDefinition.objects.get(key="orders")
    spare = AttributeDefinition.objects.create(key="spare", type="text")
    segment_create(
        name="Buyers",
        rules={"op": "all", "rules": [{"kind": "attribute", "key": "orders", "operator": "gt", "value": 1}]},
        actor=SYSTEM,
    )
    client = client_for(editor)
    page = client.get(reverse("admin:contacts_attributedefinition_change", args=[orders.pk]))
    assert (
        b'name="type"' not in page.content and b'name="key"' not in page.content and b"Buyers" in page.content
    )
    assert (
        client.post(
            reverse("admin:contacts_attributedefinition_delete", args=[orders.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert AttributeDefinition.objects.filter(pk=orders.pk).exists()
    page = client.get(reverse("admin:contacts_attributedefinition_change", args=[spare.pk]))
    assert b'name="type"' in page.content and b'name="key"' not in page.content
    assert (
        client.post(
            reverse("admin:contacts_attributedefinition_delete", args=[spare.pk]), {"post": "yes"}
        ).status_code
        == 302
    )
    assert ActivityLogEntry.objects.filter(action="attributedefinition.deleted").exists()


# --- static lists --------------------------------------------------------------------------------


def test_an_editor_makes_a_list_from_pasted_numbers(client_for, editor):
    ContactFactory(phone="+4915123456789")
    client = client_for(editor)
    add = reverse("admin:contacts_contactlist_add")
    assert client.get(add).status_code == 200
    response = client.post(add, {"name": "Fair", "numbers": "0151 23456789\n+49 151 99999999"}, follow=True)
    contact_list = ContactList.objects.get()
    assert response.redirect_chain[-1][0] == reverse(
        "admin:contacts_contactlist_change", args=[contact_list.pk]
    )
    text = response.content.decode()
    assert "“Fair” made: 1 contacts." in text and "1 not listed: Line 2 (“+49 151 99999999”)" in text
    assert f"?list={contact_list.pk}" in text and 'name="_save"' not in text  # read-only from now on
    members = client.get(CONTACTS, {"list": contact_list.pk})
    assert members.status_code == 200 and b"Bertrand" not in members.content


def test_a_list_of_nobody_is_refused_in_the_form(client_for, editor):
    response = client_for(editor).post(
        reverse("admin:contacts_contactlist_add"), {"name": "Nobody", "numbers": "+49 151 99999999"}
    )
    assert response.status_code == 200 and ContactList.objects.count() == 0
    assert "None of the numbers belongs to a contact" in response.content.decode()


def test_an_editor_makes_a_list_of_an_applied_imports_contacts(client_for, editor):
    contact_import = make_import(rows=[("new", ContactFactory())])
    make_import(status=ImportStatus.PREVIEW)
    client = client_for(editor)
    page = client.get(reverse("admin:contacts_contactlist_add"))
    assert list(page.context["form"].fields["contact_import"].queryset) == [contact_import]
    both = client.post(
        reverse("admin:contacts_contactlist_add"),
        {"numbers": "+4915123456789", "contact_import": contact_import.pk},
    )
    assert "Paste numbers or pick an import" in both.content.decode()
    client.post(reverse("admin:contacts_contactlist_add"), {"contact_import": contact_import.pk})
    assert ContactList.objects.get().size == 1


@pytest.mark.parametrize("role", ["Approver", "Auditor", "Support"])
def test_only_editors_make_lists(client_for, role):
    client = client_for(UserFactory(role=role))
    response = client.post(
        reverse("admin:contacts_contactlist_add"), {"name": "X", "numbers": "+4915123456789"}
    )
    assert response.status_code == 403 and ContactList.objects.count() == 0


def test_only_who_may_see_segments_and_lists_filters_by_them(client_for, support):
    segment = segment_create(name="VIPs", rules=VIP, actor=SYSTEM)
    client = client_for(support)
    page = client.get(CONTACTS)
    assert page.status_code == 200 and b"VIPs" not in page.content
    assert client.get(CONTACTS, {"segment": segment.pk}).status_code == 302  # the "invalid filter" notice
    listed = ContactList.objects.create(name="Fair", size=0)
    assert client.get(CONTACTS, {"list": listed.pk}).status_code == 302


def test_an_archived_segments_member_link_still_filters(admin_client):
    segment = segment_create(name="VIPs", rules=VIP, actor=SYSTEM)
    from contacts.segments.services import segment_update

    segment_update(segment=segment, archived=True, actor=SYSTEM)  # no live segment is left
    page = admin_client.get(CONTACTS, {"segment": segment.pk})
    assert page.status_code == 200 and b"Bertrand" not in page.content

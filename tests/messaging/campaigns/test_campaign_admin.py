"""The campaign admin's list and form: who sees what, drafts edited through the services, every bad
input answered on the form (never a 500), and read-only pages once submitted."""

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from messaging.campaign_models import Campaign, CampaignAuthor, CampaignStatus
from tests.factories import make_segment
from tests.messaging.campaigns.workflow_world import REMINDER_BINDINGS

pytest_plugins = ["tests.messaging.campaigns.workflow_world"]  # draft, pending, approved, …

pytestmark = pytest.mark.django_db
S = CampaignStatus
ADD_URL = reverse("admin:messaging_campaign_add")
LIST_URL = reverse("admin:messaging_campaign_changelist")


def change_url(campaign):
    return reverse("admin:messaging_campaign_change", args=[campaign.pk])


def form_data(template_row, segment_row, /, **overrides):
    data = {
        "name": "May reminders",
        "template": str(template_row.pk),
        "segment": str(segment_row.pk),
        "bindings": json.dumps(REMINDER_BINDINGS),
        "header_media_source": "",
        "header_media_link": "",
        "rate_cap": "",
        "schedule_kind": "now",
        "send_at_0": "",
        "send_at_1": "",
        "local_date": "",
        "local_time": "",
        "latest_send_at_0": "",
        "latest_send_at_1": "",
    }
    data.update(overrides)
    return data


def errors_of(response) -> dict:
    assert response.status_code == 200, response.status_code
    form = response.context["adminform"].form
    return {field or "__all__": [str(e) for e in errs] for field, errs in form.errors.items()}


# --- who sees the list -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["editor", "approver", "auditor"])
def test_the_list_renders_for_those_who_read_campaigns(request, client_for, role, pending):
    response = client_for(request.getfixturevalue(role)).get(LIST_URL)
    assert response.status_code == 200
    assert "Spring reminders" in response.content.decode()
    assert "Awaiting approval" in response.content.decode()


@pytest.mark.parametrize("role", ["support", "administrator"])
def test_support_and_administrators_see_nothing_of_campaigns(request, client_for, role, draft):
    client = client_for(request.getfixturevalue(role))
    assert client.get(LIST_URL).status_code == 403
    assert client.get(change_url(draft)).status_code == 403
    assert client.get(ADD_URL).status_code == 403
    assert "/admin/messaging/campaign/" not in client.get(reverse("admin:index")).content.decode()


def test_the_list_has_no_delete_action_and_nobody_deletes(client_for, editor, draft):
    response = client_for(editor).get(LIST_URL)
    assert "delete_selected" not in response.content.decode()
    delete = reverse("admin:messaging_campaign_delete", args=[draft.pk])
    assert client_for(editor).post(delete, {"post": "yes"}).status_code == 403
    assert Campaign.objects.filter(pk=draft.pk).exists()


def test_the_approvers_queue_lists_only_what_others_wrote(client_for, approver, pending, editor, reminder):
    # A campaign the Approver wrote (as an author) is not theirs to approve: not in their queue.
    own = Campaign.objects.create(
        name="Approver's own",
        template=reminder,
        segment=pending.segment,
        purpose="service",
        status=S.PENDING_APPROVAL,
        created_by=approver,
    )
    CampaignAuthor.objects.create(campaign=own, user=approver)
    response = client_for(approver).get(LIST_URL + "?awaiting=me")
    names = [c.name for c in response.context["cl"].result_list]
    assert names == ["Spring reminders"]
    assert "Awaiting my approval" in response.content.decode()


def test_editors_have_no_queue_filter(client_for, editor, pending):
    response = client_for(editor).get(LIST_URL)
    assert "Awaiting my approval" not in response.content.decode()


# --- the draft form ----------------------------------------------------------------------------------


def test_an_editor_creates_a_draft_through_the_service(client_for, editor, reminder, segment):
    response = client_for(editor).post(ADD_URL, form_data(reminder, segment))
    assert response.status_code == 302, errors_of(response)
    campaign = Campaign.objects.get(name="May reminders")
    assert campaign.status == S.DRAFT and campaign.bindings == REMINDER_BINDINGS
    assert campaign.purpose == "service"
    assert list(campaign.authors.values_list("user", flat=True)) == [editor.pk]


def test_the_form_offers_only_approved_templates_and_live_segments(client_for, editor, templates, segment):
    from templates_app.models import MessageTemplate

    draft_template = MessageTemplate.objects.create(name="not_yet", language="en", category="UTILITY")
    archived = make_segment(name="Old")
    archived.archived = True
    archived.save()
    response = client_for(editor).get(ADD_URL)
    form = response.context["adminform"].form
    template_ids = {t.pk for t in form.fields["template"].queryset}
    assert draft_template.pk not in template_ids and templates["appointment_reminder"].pk in template_ids
    assert archived.pk not in {s.pk for s in form.fields["segment"].queryset}
    assert "only this language" in response.content.decode()


def test_editing_a_draft_makes_the_editor_an_author(client_for, draft, reminder, segment):
    from tests.factories import UserFactory

    other = UserFactory(username="eddie_editor", role="Editor")
    response = client_for(other).post(change_url(draft), form_data(reminder, segment, name="Renamed"))
    assert response.status_code == 302, errors_of(response)
    draft.refresh_from_db()
    assert draft.name == "Renamed"
    assert CampaignAuthor.objects.filter(campaign=draft, user=other).exists()


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"template": "999999"}, "template", "valid choice"),
        ({"template": "abc"}, "template", "valid choice"),
        ({"segment": "424242"}, "segment", "valid choice"),
        ({"segment": "1 OR 1=1"}, "segment", "valid choice"),
        ({"bindings": "{not json"}, "bindings", "not valid JSON"),
        ({"bindings": "[1, 2]"}, "bindings", "must be an object"),
        ({"bindings": '{"footer": {}}'}, "bindings", "not a part of a template"),
        ({"bindings": '{"body": {"1": "x"}}'}, "bindings", "map each variable"),
        ({"name": "   "}, "name", "required"),
        ({"rate_cap": "0"}, "rate_cap", "greater than or equal to 1"),
        ({"rate_cap": "many"}, "rate_cap", "whole number"),
        ({"schedule_kind": "at"}, "send_at", "time to send at"),
        ({"schedule_kind": "sometime"}, "schedule_kind", "valid choice"),
        (
            {"schedule_kind": "local", "local_date": "2031-02-30", "local_time": "10:00"},
            "local_date",
            "valid date",
        ),
        (
            {"header_media_source": "link", "header_media_link": "https://shop.example/a.jpg"},
            "header_media_source",
            "no image",
        ),
    ],
)
def test_bad_input_is_refused_on_its_field(client_for, editor, reminder, segment, overrides, field, words):
    response = client_for(editor).post(ADD_URL, form_data(reminder, segment, **overrides))
    errors = errors_of(response)
    assert field in errors, errors
    assert words.lower() in " ".join(errors[field]).lower(), errors
    assert not Campaign.objects.exists()


def test_a_send_time_in_the_past_is_refused_when_the_draft_is_saved(client_for, editor, reminder, segment):
    past = timezone.localtime(timezone.now() - timedelta(days=1))
    data = form_data(
        reminder, segment, schedule_kind="at", send_at_0=f"{past:%Y-%m-%d}", send_at_1=f"{past:%H:%M:%S}"
    )
    errors = errors_of(client_for(editor).post(ADD_URL, data))
    assert "has passed" in " ".join(errors["send_at"])
    assert not Campaign.objects.exists()


def test_a_latest_send_time_before_the_send_time_is_refused(client_for, editor, reminder, segment):
    later = timezone.localtime(timezone.now() + timedelta(days=2))
    sooner = later - timedelta(days=1)
    data = form_data(
        reminder,
        segment,
        schedule_kind="at",
        send_at_0=f"{later:%Y-%m-%d}",
        send_at_1=f"{later:%H:%M:%S}",
        latest_send_at_0=f"{sooner:%Y-%m-%d}",
        latest_send_at_1=f"{sooner:%H:%M:%S}",
    )
    errors = errors_of(client_for(editor).post(ADD_URL, data))
    assert "latest_send_at" in errors


def test_a_schedule_kind_keeps_only_its_own_fields(client_for, editor, reminder, segment):
    later = timezone.localtime(timezone.now() + timedelta(days=2))
    data = form_data(reminder, segment, send_at_0=f"{later:%Y-%m-%d}", send_at_1="10:00:00")
    assert client_for(editor).post(ADD_URL, data).status_code == 302
    campaign = Campaign.objects.get()
    assert campaign.schedule_kind == "now" and campaign.send_at is None


def test_a_template_whose_languages_differ_in_category_is_refused_naming_the_language(
    client_for, editor, reminder, segment
):
    from templates_app.models import MessageTemplate, TemplateVersion, VersionReview

    german = MessageTemplate.objects.create(
        name=reminder.name, language="de", category="MARKETING", status="APPROVED", parameter_format="NAMED"
    )
    version = TemplateVersion.objects.create(
        template=german,
        number=1,
        category="MARKETING",
        parameter_format="NAMED",
        components=reminder.approved_version.components,
        review=VersionReview.APPROVED,
    )
    german.approved_version = version
    german.save()
    errors = errors_of(client_for(editor).post(ADD_URL, form_data(reminder, segment)))
    assert "de" in " ".join(errors["template"]), errors


# --- read-only once submitted ---------------------------------------------------------------------------


def test_a_pending_campaign_is_read_only_and_says_why(client_for, editor, pending, reminder, segment):
    client = client_for(editor)
    response = client.get(change_url(pending))
    page = response.content.decode()
    assert response.status_code == 200
    assert response.context["adminform"].form.fields == {}
    assert 'name="bindings"' not in page
    assert "Read-only, so the Approver approves exactly what they read" in page
    # A forged POST changes nothing.
    response = client.post(change_url(pending), form_data(reminder, segment, name="Sneaky"))
    assert response.status_code == 403
    pending.refresh_from_db()
    assert pending.name == "Spring reminders"


def test_approvers_read_drafts_but_cannot_edit_them(client_for, approver, draft, reminder, segment):
    client = client_for(approver)
    response = client.get(change_url(draft))
    assert response.status_code == 200
    assert 'name="bindings"' not in response.content.decode()
    assert client.post(change_url(draft), form_data(reminder, segment, name="Changed")).status_code == 403
    assert client.get(ADD_URL).status_code == 403


def test_auditors_read_everything_and_change_nothing(client_for, auditor, approved):
    client = client_for(auditor)
    response = client.get(change_url(approved))
    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="campaign-workflow"' not in page
    assert "Send a test" not in page
    assert "Timeline" in page and "Awaiting approval → Approved" in page


def test_the_read_only_page_shows_bindings_schedule_and_authors(client_for, approver, pending, editor):
    page = client_for(approver).get(change_url(pending)).content.decode()
    assert "contact field" in page and "first_name" in page and "12 May" in page
    assert "as soon as it is approved" in page
    assert editor.username in page

"""The campaign admin's progress endpoint, results page and recipient export, per role."""

import csv
import io
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from contacts.models import ActivityLogEntry
from messaging import admin_campaign_results
from messaging.campaign_models import CampaignStatus
from messaging.models import MessageStatus
from tests.factories import CampaignFactory, ContactFactory
from tests.messaging.campaigns.results_world import answer, campaign_message, messages, reads

M = MessageStatus
pytestmark = pytest.mark.django_db


def progress_url(campaign_id):
    return reverse("admin:messaging_campaign_progress", args=[campaign_id])


def results_url(campaign_id):
    return reverse("admin:messaging_campaign_results", args=[campaign_id])


def export_url(campaign_id):
    return reverse("admin:messaging_campaign_results_export", args=[campaign_id])


@pytest.fixture
def campaign(db):
    campaign = CampaignFactory(status=CampaignStatus.SENDING, rate_cap=5)
    messages(campaign, M.QUEUED, 10)
    messages(campaign, M.SENDING, 2)
    messages(campaign, M.ACCEPTED, 1)
    messages(campaign, M.SENT, 2)
    delivered = messages(campaign, M.DELIVERED, 3)
    answer(delivered[0], type="button", text="Book")
    messages(campaign, M.READ, 2)
    messages(campaign, M.FAILED, 2, error_code=131026, error_class="recipient-permanent")
    campaign_message(campaign, M.FAILED, error_code=131050, error_class="recipient-permanent")
    messages(campaign, M.SKIPPED, 1, error_class="opted_out")
    campaign_message(campaign, M.UNKNOWN, needs_review=True)
    messages(campaign, M.READ, 3, is_test=True)
    return campaign


# --- the progress endpoint ------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["editor", "approver", "auditor"])
def test_those_who_read_campaigns_read_its_progress(request, client_for, role, campaign):
    response = client_for(request.getfixturevalue(role)).get(progress_url(campaign.pk))
    assert response.status_code == 200
    data = response.json()
    assert data["counts"] == {
        "queued": 10,
        "sending": 2,
        "accepted": 1,
        "sent": 2,
        "delivered": 3,
        "read": 2,
        "failed": 3,
        "skipped": 1,
        "cancelled": 0,
        "unknown": 1,
    }
    assert data["total"] == 25 and data["needs_review"] == 1
    assert data["remaining"] == 12 and data["effective_rate"] == 5 and data["seconds_left"] == 3
    assert data["expected_finish"] and data["live"] is True


def test_support_may_not_read_progress_and_strangers_log_in(client, client_for, support, campaign):
    assert client_for(support).get(progress_url(campaign.pk)).status_code == 403
    client.logout()
    response = client.get(progress_url(campaign.pk))
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.parametrize("campaign_id", [999999, 10**30])
def test_a_campaign_that_does_not_exist_is_a_404(client_for, auditor, campaign_id):
    client = client_for(auditor)
    for url in (progress_url, results_url, export_url):
        assert client.get(url(campaign_id)).status_code == 404


def test_a_finished_campaign_says_so_and_the_page_stops_polling(client_for, auditor, campaign):
    campaign.status = CampaignStatus.COMPLETED
    campaign.save(update_fields=["status"])
    data = client_for(auditor).get(progress_url(campaign.pk)).json()
    assert (data["live"], data["settling"], data["pace"]) == (False, False, "")
    page = client_for(auditor).get(reverse("admin:messaging_campaign_change", args=[campaign.pk]))
    assert 'data-live="false"' in page.content.decode()


@pytest.mark.parametrize("status", [CampaignStatus.COMPLETED, CampaignStatus.CANCELLED])
def test_a_campaign_finished_within_the_reply_window_is_polled_slowly_then_not(
    client_for, auditor, campaign, settings, status
):
    """Delivered, read and replies keep coming after the last message went: the page keeps asking,
    at the slower pace, for CAMPAIGN_REPLY_ATTRIBUTION_HOURS after the campaign finished."""
    settings.CAMPAIGN_REPLY_ATTRIBUTION_HOURS = 72
    client = client_for(auditor)
    campaign.status = status
    campaign.finished_at = timezone.now() - timedelta(hours=71)
    campaign.save(update_fields=["status", "finished_at"])
    data = client.get(progress_url(campaign.pk)).json()
    assert (data["live"], data["settling"], data["pace"]) == (False, True, "slow")
    page = client.get(results_url(campaign.pk)).content.decode()
    assert 'data-live="true" data-pace="slow"' in page
    assert f'data-settling-interval="{admin_campaign_results.SETTLING_POLL_MS}"' in page

    campaign.finished_at = timezone.now() - timedelta(hours=72, seconds=1)
    campaign.save(update_fields=["finished_at"])
    assert client.get(progress_url(campaign.pk)).json()["pace"] == ""
    assert 'data-live="false" data-pace=""' in client.get(results_url(campaign.pk)).content.decode()


def test_the_results_page_polls_for_the_funnel_too(client_for, auditor, campaign, settings):
    settings.CAMPAIGN_REPLY_ATTRIBUTION_HOURS = 72
    client = client_for(auditor)
    page = client.get(results_url(campaign.pk)).content.decode()
    assert f'data-url="{progress_url(campaign.pk)}?funnel=1"' in page
    funnel = client.get(progress_url(campaign.pk), {"funnel": "1"}).json()["funnel"]
    # The numbers the SVG shows, in its order and words.
    assert [(bar["label"], bar["text"]) for bar in funnel["bars"]] == [
        ("Sent", "7"),
        ("Delivered", "5 (71.4%)"),
        ("Read", "2 (28.6%)"),
        ("Replied", "1 (14.3%)"),
        ("Pressed a quick-reply button", "1 (14.3%)"),
    ]
    for bar in funnel["bars"]:
        assert f'<text x="{bar["count_x"]}" y=' in page and f'width="{bar["width"]}"' in page
    assert funnel["description"] in page
    assert "writing within 72 hours after it was sent" in page
    assert "funnel" not in client.get(progress_url(campaign.pk)).json()


@pytest.mark.parametrize("value", ["0", "yes", "", "1' OR 1=1"])
def test_a_bad_funnel_value_is_said_never_a_500(client_for, auditor, campaign, value):
    response = client_for(auditor).get(progress_url(campaign.pk), {"funnel": value})
    assert response.status_code == 400
    assert "funnel=1" in response.json()["error"]


def _message_queries(captured) -> int:
    return sum(1 for q in captured if "messaging_outboundmessage" in q["sql"])


def test_the_polled_endpoint_is_one_aggregate_two_with_the_funnel_whatever_the_size(client_for, auditor):
    """Every open page polls it: the progress is one aggregate over the campaign's messages, the
    funnel one more; the same for 5 and 50 messages, answers and all."""
    client = client_for(auditor)
    counted = []
    for size in (5, 50):
        campaign = CampaignFactory(status=CampaignStatus.COMPLETED, finished_at=timezone.now())
        for message in messages(campaign, M.READ, size):
            answer(message)
        with CaptureQueriesContext(connection) as plain:
            assert client.get(progress_url(campaign.pk)).status_code == 200
        with CaptureQueriesContext(connection) as with_funnel:
            data = client.get(progress_url(campaign.pk), {"funnel": "1"}).json()
        assert data["funnel"]["bars"][3]["count"] == size
        assert (_message_queries(plain), _message_queries(with_funnel)) == (1, 2)
        assert len(reads(with_funnel)) == len(reads(plain)) + 1
        counted.append(len(with_funnel))
    assert counted[0] == counted[1]


# --- the change page and the results page ------------------------------------------------------


def test_the_change_page_renders_the_progress_bar_with_counts(client_for, approver, campaign):
    response = client_for(approver).get(reverse("admin:messaging_campaign_change", args=[campaign.pk]))
    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="campaign-progress"' in page and 'data-live="true"' in page
    assert f'data-url="{progress_url(campaign.pk)}"' in page
    assert '<strong data-count="queued">10</strong>' in page
    assert '<strong data-count="failed">3</strong>' in page
    assert 'data-state="queued" style="width: 40.0%"' in page
    assert "messaging/campaign_progress.js" in page
    assert results_url(campaign.pk) in page


def test_a_campaign_without_messages_shows_no_progress(client_for, editor):
    draft = CampaignFactory()
    page = client_for(editor).get(reverse("admin:messaging_campaign_change", args=[draft.pk]))
    assert page.status_code == 200
    assert 'id="campaign-progress"' not in page.content.decode()


def test_the_results_page_draws_the_funnel_as_svg_with_its_numbers(client_for, auditor, campaign):
    response = client_for(auditor).get(results_url(campaign.pk))
    page = response.content.decode()
    assert response.status_code == 200
    assert '<svg class="campaign-funnel"' in page and "<title id=" in page
    # Sent counts those that reached sent at least: 2 sent + 3 delivered + 2 read.
    assert "Sent: 7 (100.0% of sent); Delivered: 5 (71.4% of sent); Read: 2 (28.6% of sent)" in page
    assert "Replied: 1 (14.3% of sent); Pressed a quick-reply button: 1 (14.3% of sent)" in page
    assert "http" not in page.split('<svg class="campaign-funnel"')[1].split("</svg>")[0].replace(
        "http://www.w3.org/2000/svg", ""
    )  # nothing fetched from elsewhere
    assert "131026" in page and "Opted out" in page


def test_the_recipient_list_filters_by_state_and_code(client_for, auditor, campaign):
    client = client_for(auditor)
    page = client.get(results_url(campaign.pk), {"state": "failed", "code": "131026"}).content.decode()
    assert "2 messages." in page
    page = client.get(results_url(campaign.pk), {"state": "needs_review"}).content.decode()
    assert "1 message." in page
    page = client.get(results_url(campaign.pk)).content.decode()
    assert "25 messages." in page  # the test sends are not recipients


@pytest.mark.parametrize(
    "query, words",
    [
        ({"state": "exploded"}, "is not a message state"),
        ({"code": "abc"}, "is not an error code"),
        ({"code": "²"}, "is not an error code"),
        ({"page": "x"}, "is not a page of this list"),
        ({"page": "999"}, "is not a page of this list"),
    ],
)
def test_bad_filters_are_said_never_a_500(client_for, auditor, campaign, query, words):
    response = client_for(auditor).get(results_url(campaign.pk), query)
    assert response.status_code == 400
    assert words in response.content.decode()


def test_the_list_pages(client_for, auditor, campaign):
    messages(campaign, M.QUEUED, 45)
    client = client_for(auditor)
    page = client.get(results_url(campaign.pk), {"state": "queued", "page": "2"}).content.decode()
    assert "page 2 of 2" in page and "55 messages." in page


# --- the export -----------------------------------------------------------------------------------


def _rows(response) -> list[dict]:
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


@pytest.mark.parametrize("role", ["editor", "auditor"])
def test_editors_and_auditors_export_the_filtered_list(request, client_for, role, campaign):
    user = request.getfixturevalue(role)
    response = client_for(user).get(export_url(campaign.pk), {"state": "failed"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = _rows(response)
    assert len(rows) == 3
    assert {row["status"] for row in rows} == {"failed"}
    assert sorted(row["error_code"] for row in rows) == ["131026", "131026", "131050"]
    entry = ActivityLogEntry.objects.get(action="campaign.recipients_exported")
    assert entry.object_id == str(campaign.pk)
    assert entry.details == {"filters": {"state": "failed", "code": None}, "rows": 3}


def test_the_export_never_includes_test_sends_and_defuses_formulas(client_for, editor, campaign):
    campaign_message(campaign, M.READ, contact=ContactFactory(first_name="=HYPERLINK(1)"))
    rows = _rows(client_for(editor).get(export_url(campaign.pk)))
    assert len(rows) == 26
    assert "'=HYPERLINK(1)" in {row["first_name"] for row in rows}
    assert sum(1 for row in rows if row["replied"] == "yes") == 1


@pytest.mark.parametrize("role", ["approver", "support"])
def test_others_may_not_export(request, client_for, role, campaign):
    response = client_for(request.getfixturevalue(role)).get(export_url(campaign.pk))
    assert response.status_code == 403
    assert not ActivityLogEntry.objects.filter(action="campaign.recipients_exported").exists()


def test_the_export_link_shows_only_to_those_who_may_export(client_for, approver, editor, campaign):
    assert (
        'id="campaign-recipients-export"'
        not in client_for(approver).get(results_url(campaign.pk)).content.decode()
    )
    assert (
        'id="campaign-recipients-export"' in client_for(editor).get(results_url(campaign.pk)).content.decode()
    )


def test_anonymous_is_sent_to_log_in(client, campaign):
    response = client.get(export_url(campaign.pk))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_a_bad_export_filter_exports_nothing(client_for, editor, campaign):
    response = client_for(editor).get(export_url(campaign.pk), {"state": "nope"})
    assert response.status_code == 302
    assert response["Location"].startswith(results_url(campaign.pk))
    assert not ActivityLogEntry.objects.filter(action="campaign.recipients_exported").exists()


def test_the_results_page_reads_as_much_for_a_large_campaign_as_for_a_small_one(client_for, auditor):
    client = client_for(auditor)
    counted = []
    for size in (5, 50):
        campaign = CampaignFactory(status=CampaignStatus.SENDING)
        for message in messages(campaign, M.READ, size):
            answer(message)
        messages(campaign, M.FAILED, size, error_code=131026)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(results_url(campaign.pk)).status_code == 200
        counted.append(len(queries))
    assert counted[0] == counted[1]

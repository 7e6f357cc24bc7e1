"""Values a browser never sends but an attacker may: digits Python calls digits and ``int()`` refuses
("²"), and poll times out of any sane range. Each gets a clear 404 or 400, or is read as absent —
never a 500, nothing changed."""

import base64
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from inbox.models import Conversation
from messaging.models import OutboundMessage

pytestmark = pytest.mark.django_db
pytest_plugins = ["tests.inbox.thread_world"]

SUPERSCRIPT_TWO = "²"  # str.isdigit() is True; int() raises


def url(name, conversation, *args):
    return reverse(f"admin:inbox_conversation_{name}", args=[conversation.pk, *args])


def test_a_conversation_id_of_unicode_digits_is_not_found(client, support, conversation):
    client.force_login(support)
    for name in ("change", "poll", "earlier"):
        assert (
            client.get(reverse(f"admin:inbox_conversation_{name}", args=[SUPERSCRIPT_TWO])).status_code == 404
        )
    response = client.post(reverse("admin:inbox_conversation_reply", args=[SUPERSCRIPT_TWO]), {"body": "Hi"})
    assert response.status_code == 404
    assert not OutboundMessage.objects.exists()


def test_a_template_of_unicode_digits_is_no_template(client, support, conversation):
    client.force_login(support)
    assert client.get(url("change", conversation), {"template": SUPERSCRIPT_TWO}).status_code == 200
    response = client.post(url("reply", conversation), {"tab": "template", "template": SUPERSCRIPT_TWO})
    assert response.status_code == 400
    assert "Choose an approved template." in response.content.decode()


def test_a_seen_message_of_unicode_digits_is_read_as_none_seen(client, support, conversation):
    client.force_login(support)
    data = {"tab": "text", "body": "Happy to help", "seen_outbound_id": SUPERSCRIPT_TWO}
    assert client.post(url("reply", conversation), data).status_code == 302
    assert OutboundMessage.objects.count() == 1


def test_an_assignee_of_unicode_digits_is_named_and_nothing_changes(client, support, conversation):
    client.force_login(support)
    response = client.post(url("assign", conversation), {"assignee": SUPERSCRIPT_TWO}, follow=True)
    assert response.status_code == 200
    said = [str(m) for m in response.context["messages"]]
    assert said == [f"No staff member {SUPERSCRIPT_TWO!r} to assign to."]
    assert Conversation.objects.get().assigned_to is None


@pytest.mark.parametrize(
    "since",
    [
        "0001-01-01T00:00:00+00:00",  # one second earlier does not exist: it was an OverflowError
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
        "2019-01-01T00:00:00+00:00",
        "not a time",
        "2025-13-45T00:00:00+00:00",
        "2025-06-01T00:00:00",  # no time zone
    ],
)
def test_a_poll_since_a_time_no_answer_gave_is_refused(client, auditor, conversation, since):
    client.force_login(auditor)
    answer = client.get(url("poll", conversation), {"after_inbound": 0, "after_note": 0, "since": since})
    assert answer.status_code == 400
    assert "since" in answer.json()["error"]


def test_a_poll_since_the_last_answer_of_a_page_left_open_for_days_still_works(client, auditor, conversation):
    client.force_login(auditor)
    since = (timezone.now() - timedelta(days=13)).isoformat()
    answer = client.get(url("poll", conversation), {"after_inbound": 0, "after_note": 0, "since": since})
    assert answer.status_code == 200


@pytest.mark.parametrize("value", [SUPERSCRIPT_TWO, "1" * 40, "-1"])
def test_a_poll_after_a_message_number_that_is_none_is_refused(client, auditor, conversation, value):
    client.force_login(auditor)
    since = timezone.now().isoformat()
    answer = client.get(url("poll", conversation), {"after_inbound": value, "after_note": 0, "since": since})
    assert answer.status_code == 400 and "after_inbound" in answer.json()["error"]


@pytest.mark.parametrize(
    "when", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2025-06-01T00:00:00+00:00"]
)
def test_an_earlier_page_cursor_at_the_ends_of_time_is_read_or_refused_clearly(
    client, auditor, conversation, when
):
    client.force_login(auditor)
    for pk in ("1", SUPERSCRIPT_TWO, "9" * 30):
        cursor = base64.urlsafe_b64encode(f"{when}|0|{pk}".encode()).decode()
        answer = client.get(url("earlier", conversation), {"before": cursor})
        assert answer.status_code in (200, 400), (when, pk)
        if answer.status_code == 400:
            assert "damaged" in answer.json()["error"]

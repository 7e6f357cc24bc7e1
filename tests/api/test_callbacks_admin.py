"""The callback outbox in the admin: Auditors and Administrators read events with their attempts,
filter them by key, state and type; only Administrators retry; nobody adds, changes or deletes."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from api.callbacks import delivery
from api.models import CallbackDelivery, CallbackEvent, CallbackState
from contacts.models import ActivityLogEntry
from tests.api.callback_world import make_key
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:api_callbackevent_changelist"


@pytest.fixture(autouse=True)
def queued_tasks(monkeypatch):
    calls = []
    monkeypatch.setattr(delivery, "async_task", lambda *args, **kwargs: calls.append(args))
    return calls


@pytest.fixture
def outbox(db):
    shop = make_key("Shop", callback_url="https://shop.example/hooks")
    crm = make_key("CRM", callback_url="https://crm.example/hooks")
    later = timezone.now() + timedelta(hours=1)
    gave_up = CallbackEvent.objects.create(
        key=shop,
        type="message.status",
        payload={"message_id": "m-1", "state": "read", "error": None},
        state=CallbackState.GAVE_UP,
        attempts=25,
        next_attempt_at=later,
        last_error="Gave up after 25 attempts: HTTP 503",
    )
    CallbackDelivery.objects.create(event=gave_up, status_code=503, error="HTTP 503: busy", duration_ms=12)
    delivered = CallbackEvent.objects.create(
        key=crm,
        type="consent.opt_out",
        payload={"contact_id": 7, "purpose": "marketing"},
        state=CallbackState.DELIVERED,
        attempts=1,
        delivered_at=timezone.now(),
    )
    return {"shop": shop, "crm": crm, "gave_up": gave_up, "delivered": delivered}


def retry(client, *events):
    return client.post(
        reverse(CHANGELIST),
        {"action": "retry_now", "_selected_action": [e.pk for e in events]},
        follow=True,
    )


def test_an_auditor_reads_events_and_their_attempts_and_retries_nothing(client_for, auditor, outbox):
    client = client_for(auditor)
    listing = client.get(reverse(CHANGELIST))
    assert listing.status_code == 200
    assert str(outbox["gave_up"].event_id) in listing.content.decode()
    assert "retry_now" not in listing.content.decode()
    page = client.get(reverse("admin:api_callbackevent_change", args=[outbox["gave_up"].pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "HTTP 503: busy" in text and "&quot;message_id&quot;: &quot;m-1&quot;" in text
    retry(client, outbox["gave_up"])
    assert CallbackEvent.objects.get(pk=outbox["gave_up"].pk).state == CallbackState.GAVE_UP


def test_the_list_filters_by_key_state_and_type(client_for, administrator, outbox):
    client = client_for(administrator)
    for query, shown, hidden in (
        ({"key__id__exact": outbox["crm"].pk}, "delivered", "gave_up"),
        ({"state__exact": CallbackState.GAVE_UP}, "gave_up", "delivered"),
        ({"type__exact": "consent.opt_out"}, "delivered", "gave_up"),
    ):
        text = client.get(reverse(CHANGELIST), query).content.decode()
        assert str(outbox[shown].event_id) in text
        assert str(outbox[hidden].event_id) not in text


def test_an_administrator_retries_now_and_it_is_logged(
    client_for, administrator, outbox, queued_tasks, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = retry(client_for(administrator), outbox["gave_up"], outbox["delivered"])
    assert "1 event(s) due now" in response.content.decode()
    assert "1 already delivered, left alone" in response.content.decode()
    again = CallbackEvent.objects.get(pk=outbox["gave_up"].pk)
    assert again.state == CallbackState.PENDING
    assert again.next_attempt_at <= timezone.now()
    assert again.attempts == 25  # one more attempt: past the limit it is given up again if it fails
    assert CallbackEvent.objects.get(pk=outbox["delivered"].pk).state == CallbackState.DELIVERED
    entry = ActivityLogEntry.objects.get(action="callback.retried")
    assert entry.details["event_ids"] == [str(outbox["gave_up"].event_id)]
    assert queued_tasks == [(delivery.DELIVER_TASK,)]


@pytest.mark.parametrize("role", ["Editor", "Approver", "Support"])
def test_other_roles_do_not_see_the_outbox(client_for, outbox, role):
    client = client_for(UserFactory(role=role))
    assert client.get(reverse(CHANGELIST)).status_code == 403


def test_nobody_adds_changes_or_deletes_an_event_not_even_a_superuser(client_for, outbox):
    client = client_for(UserFactory(is_superuser=True, is_staff=True))
    event = outbox["gave_up"]
    assert client.get(reverse("admin:api_callbackevent_add")).status_code == 403
    assert (
        client.post(reverse("admin:api_callbackevent_delete", args=[event.pk]), {"post": "yes"}).status_code
        == 403
    )
    client.post(reverse("admin:api_callbackevent_change", args=[event.pk]), {"state": "delivered"})
    assert CallbackEvent.objects.get(pk=event.pk).state == CallbackState.GAVE_UP
    listing = client.get(reverse(CHANGELIST)).content.decode()
    assert "delete_selected" not in listing
    assert "retry_now" in listing

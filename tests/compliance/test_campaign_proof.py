"""Proof of consent per message, through the real dispatcher: a campaign with a mid-campaign opt-out,
the non-campaign sends of a period, masking, bad input, role rights and the export log."""

import csv
import io
import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from contacts.models import ActivityLogEntry, ConsentEvent, ConsentSource, Purpose
from core.actors import Actor
from core.roles import ROLES
from messaging.models import MessageKind, MessageStatus, OutboundMessage
from messaging.sending.service import send_message
from messaging.tasks import dispatch
from tests.factories import ContactFactory, UserFactory, opt_in, opt_out
from tests.messaging.conftest import ORDER_PARAMETERS

pytest_plugins = ["tests.messaging.campaigns.workflow_world"]

SYSTEM = Actor.system("tests")
CAMPAIGN_PROOF = "admin:compliance_consentproof_campaign"
PERIOD_PROOF = "admin:compliance_consentproof_changelist"


def queued(campaign, contact, *, due=True) -> OutboundMessage:
    """A campaign message as materialisation writes it."""
    message = OutboundMessage(
        contact=contact,
        kind=MessageKind.TEMPLATE,
        purpose=campaign.purpose,
        campaign=campaign,
        template_version=campaign.template.approved_version,
        next_attempt_at=timezone.now() if due else timezone.now() + timedelta(hours=1),
    )
    message.set_actor(SYSTEM)
    message.save()
    return message


def rows_of(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


@pytest.fixture
def mid_campaign(sending, memory_backend):
    """Two recipients opted in; Ada's message goes, then Ben opts out before his goes (it is skipped);
    Ada opts out ten minutes after hers was sent (an opt-out the campaign caused)."""
    ada = ContactFactory(country="DE", first_name="Ada", phone="+4915111111111")
    ben = ContactFactory(country="DE", first_name="Ben", phone="+4915122222222")
    ada_in = opt_in(
        ada,
        Purpose.SERVICE,
        evidence={"ip": "203.0.113.7", "page": "/checkout"},
        source=ConsentSource.CHECKOUT,
    )
    opt_in(ben, Purpose.SERVICE)
    first = queued(sending, ada)
    second = queued(sending, ben, due=False)
    dispatch()
    first.refresh_from_db()
    assert first.status == MessageStatus.ACCEPTED
    # Sent half an hour ago (so Ada's opt-out below can come after it without being ahead of now).
    half_an_hour_ago = timezone.now() - timedelta(minutes=30)
    OutboundMessage.objects.filter(pk=first.pk).update(accepted_at=half_an_hour_ago, sent_at=half_an_hour_ago)
    opt_out(ben, Purpose.SERVICE)
    OutboundMessage.objects.filter(pk=second.pk).update(next_attempt_at=timezone.now())
    dispatch()
    second.refresh_from_db()
    assert second.status == MessageStatus.SKIPPED
    caused = opt_out(ada, Purpose.SERVICE, occurred_at=half_an_hour_ago + timedelta(minutes=10))
    return {"campaign": sending, "first": first, "second": second, "ada_in": ada_in, "caused": caused}


def test_the_message_sent_before_the_opt_out_shows_the_opt_in_that_authorised_it(
    client_for, auditor, mid_campaign
):
    url = reverse(CAMPAIGN_PROOF, args=[mid_campaign["campaign"].pk])

    rows = rows_of(client_for(auditor).get(url, {"output": "csv", "download": "1"}))

    first, second = mid_campaign["first"], mid_campaign["second"]
    ada_in: ConsentEvent = mid_campaign["ada_in"]
    assert [row["message_id"] for row in rows] == [str(first.public_id), str(second.public_id)]
    sent, skipped = rows
    assert sent["status"] == MessageStatus.ACCEPTED and sent["phone"] == "'+4915111111111"  # formula-guarded
    assert sent["consent_event_id"] == str(ada_in.pk) == str(first.authorising_event_id)
    assert (sent["consent_action"], sent["consent_source"]) == ("opt_in", "checkout")
    assert sent["wording_text"] == "Yes, send me WhatsApp messages from Demo Shop."
    assert json.loads(sent["consent_evidence"]) == {"ip": "203.0.113.7", "page": "/checkout"}
    caused = json.loads(sent["caused_opt_out"])
    assert (caused["event_id"], caused["source"]) == (mid_campaign["caused"].pk, "staff")
    assert (skipped["status"], skipped["skip_reason"]) == (MessageStatus.SKIPPED, "opted_out")
    assert skipped["consent_event_id"] == "" and skipped["accepted_at"] == ""
    assert skipped["caused_opt_out"] == ""  # he opted out before it, not because of it


def test_the_page_counts_before_the_download_and_the_download_is_logged(client_for, auditor, mid_campaign):
    client = client_for(auditor)
    url = reverse(CAMPAIGN_PROOF, args=[mid_campaign["campaign"].pk])

    page = client.get(url)
    assert "<strong>2</strong> messages match; 1 caused an opt-out." in page.content.decode()
    assert not ActivityLogEntry.objects.filter(action__startswith="compliance.").exists()

    body = b"".join(client.get(url, {"output": "jsonl", "download": "1"}).streaming_content).decode()
    metadata, *rows = [json.loads(line) for line in body.splitlines()]
    assert metadata["metadata"]["report"] == "Proof of consent"
    assert metadata["metadata"]["filters"]["campaign_id"] == mid_campaign["campaign"].pk
    assert [row["message_id"] for row in rows] == [
        str(mid_campaign["first"].public_id),
        str(mid_campaign["second"].public_id),
    ]
    finished = ActivityLogEntry.objects.get(action="compliance.exported")
    assert finished.actor_user == auditor
    assert finished.details["report"] == "consent_proof" and finished.details["rows"] == 2
    assert finished.details["filters"]["campaign_id"] == mid_campaign["campaign"].pk
    assert finished.details["output"] == "jsonl" and finished.details["masked"] is False


def test_the_results_page_links_the_proof(client_for, auditor, mid_campaign):
    campaign = mid_campaign["campaign"]
    page = client_for(auditor).get(reverse("admin:messaging_campaign_results", args=[campaign.pk]))
    assert reverse(CAMPAIGN_PROOF, args=[campaign.pk]) in page.content.decode()


@pytest.mark.parametrize("role", ROLES)
def test_only_the_auditor_of_the_five_roles_may_read_a_proof(client_for, role, sending):
    user = UserFactory(username=f"user_{role.lower()}", role=role)
    client = client_for(user)
    expected = 200 if role == "Auditor" else 403
    assert client.get(reverse(CAMPAIGN_PROOF, args=[sending.pk])).status_code == expected
    assert client.get(reverse(PERIOD_PROOF)).status_code == expected


def test_an_editor_granted_the_export_gets_phones_and_evidence_masked(client_for, editor, mid_campaign):
    editor.user_permissions.add(Permission.objects.get(codename="export_consent_audit"))
    url = reverse(CAMPAIGN_PROOF, args=[mid_campaign["campaign"].pk])

    sent, _skipped = rows_of(client_for(editor).get(url, {"output": "csv", "download": "1"}))

    assert sent["phone"] == "'+49…11"
    assert json.loads(sent["consent_evidence"]) == {"ip": "masked", "page": "/checkout"}
    assert ActivityLogEntry.objects.get(action="compliance.exported").details["masked"] is True


def test_a_period_of_sends_outside_campaigns(client_for, auditor, templates, memory_backend):
    customer = ContactFactory(phone="+4915133333333", first_name="Pablo", time_zone="Europe/Berlin")
    opt_in(customer, Purpose.SERVICE)
    inside = send_message(
        contact=customer, actor=SYSTEM, template=templates["order_update"], parameters=ORDER_PARAMETERS
    )
    dispatch()
    day = timezone.localdate()
    query = {"since": day.isoformat(), "until": day.isoformat()}
    client = client_for(auditor)

    page = client.get(reverse(PERIOD_PROOF), query)
    yesterday = client.get(reverse(PERIOD_PROOF), {"since": "2020-01-01", "until": "2020-01-02"})
    rows = rows_of(client.get(reverse(PERIOD_PROOF), {**query, "purpose": "service", "download": "1"}))
    marketing = rows_of(client.get(reverse(PERIOD_PROOF), {**query, "purpose": "marketing", "download": "1"}))

    assert "<strong>1</strong> message match" in page.content.decode()
    assert "<strong>0</strong> messages match" in yesterday.content.decode()
    (row,) = rows
    assert row["message_id"] == str(inside.public_id) and row["campaign_id"] == ""
    assert row["consent_event_id"] == str(customer.consents.get(purpose=Purpose.SERVICE).event_id)
    assert marketing == []  # an empty proof is a file with its header


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"since": "2026-05-02", "until": "2026-05-01"}, "before it starts"),
        ({"since": "2026-13-01", "until": "2026-05-01"}, "Correct the period"),
        ({"since": "2024-01-01", "until": "2026-01-01"}, "at most 366 days"),
        ({"since": "2026-05-01"}, "Correct the period"),
        ({"since": "2026-05-01", "until": "2026-05-02", "purpose": "sales"}, "Correct the period"),
        ({"since": "2026-05-01", "until": "2026-05-02", "output": "xml"}, "is not an output"),
    ],
)
def test_a_bad_period_is_refused_with_a_message_and_nothing_is_exported(client_for, auditor, query, message):
    response = client_for(auditor).get(reverse(PERIOD_PROOF), {**query, "download": "1"})

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not ActivityLogEntry.objects.filter(action__startswith="compliance.").exists()


def test_an_unknown_campaign_is_a_404_that_says_so(client_for, auditor):
    response = client_for(auditor).get(reverse(CAMPAIGN_PROOF, args=[987654]))
    assert response.status_code == 404
    assert "There is no campaign with the id 987654." in response.content.decode()


def test_the_command_writes_a_campaigns_proof_and_logs_it(mid_campaign, tmp_path):
    target = tmp_path / "proof.csv"

    call_command("consent_proof", "--campaign", str(mid_campaign["campaign"].pk), "-o", str(target), "--mask")

    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert [row["message_id"] for row in rows] == [
        str(mid_campaign["first"].public_id),
        str(mid_campaign["second"].public_id),
    ]
    assert rows[0]["phone"] == "'+49…11"
    finished = ActivityLogEntry.objects.get(action="compliance.exported")
    assert finished.actor_kind == "system" and finished.details["rows"] == 2 and finished.details["masked"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "Give --campaign ID, or a period"),
        (["--campaign", "424242"], "no campaign with the id"),
        (["--campaign", "x"], "no campaign with the id"),
        (["--from", "2026-05-02", "--to", "2026-05-01"], "before it starts"),
        (["--from", "May 1st", "--to", "2026-05-01"], "takes a day such as"),
        (["--from", "2026-05-01"], "Give both the start and the end"),
        (["--from", "2026-05-01", "--to", "2026-05-02", "--format", "xlsx"], "--format takes one of"),
    ],
)
def test_the_command_refuses_bad_input_and_exports_nothing(db, arguments, message):
    with pytest.raises(CommandError, match=message):
        call_command("consent_proof", *arguments)
    assert not ActivityLogEntry.objects.filter(action__startswith="compliance.").exists()

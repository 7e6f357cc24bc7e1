"""Halting sending by hand: Administrators and Approvers start it with a reason, from the banner on
every admin page or from the halt page; only Administrators clear it; replies still go."""

import pytest
from django.urls import reverse

from cloud_api.backends import get_backend
from contacts.models import ActivityLogEntry
from core.actors import Actor
from core.errors import ApplicationError
from core.roles import ADMINISTRATOR, APPROVER, ROLES
from messaging.models import HoldReason, MessageStatus, OutboundMessage, SendingHalt
from messaging.sending.dispatch import send_queued
from messaging.sending.enqueue import DISPATCH_TASK
from messaging.sending.halt import active_halt, clear_halt, halt_sending, sending_halt_start
from messaging.sending.rules import send_time_verdict
from messaging.sending.service import send_message
from tests.factories import UserFactory
from tests.messaging.conftest import ORDER_PARAMETERS, inbound_message

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("tests")
HALT_PAGE = reverse("admin:messaging_sendinghalt_halt")
CLEAR_URL = reverse("admin:messaging_sendinghalt_clear")
MAY_HALT = {ADMINISTRATOR, APPROVER}
MAY_CLEAR = {ADMINISTRATOR}


def actor(role: str) -> Actor:
    return Actor.for_user(UserFactory(role=role))


@pytest.fixture
def memory_backend(settings):
    settings.WHATSAPP_BACKEND = "memory"
    settings.WHATSAPP_MESSAGES_PER_SECOND = 1000
    settings.MARKETING_SENDING_HOURS = ""
    backend = get_backend()
    backend.reset()
    yield backend
    backend.reset()


# --- The service ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", sorted(MAY_HALT))
def test_an_administrator_or_approver_halts_sending_with_a_reason(role):
    who = actor(role)
    halt = sending_halt_start(actor=who, reason="  A campaign went out with the wrong price.  ")
    assert halt.active and halt.started_by == who.user and halt.error_code is None
    assert halt.reason == "A campaign went out with the wrong price."
    info = active_halt()
    assert info.id == halt.pk and info.manual and info.started_by == who.user.username
    entry = ActivityLogEntry.objects.get(action="sending.halted")
    assert entry.actor_user == who.user and entry.object_id == str(halt.pk)
    assert entry.details == {"reason": "A campaign went out with the wrong price.", "manual": True}


@pytest.mark.parametrize("role", sorted(set(ROLES) - MAY_HALT))
def test_other_roles_cannot_halt_sending(role):
    with pytest.raises(ApplicationError) as info:
        sending_halt_start(actor=actor(role), reason="Let me stop this")
    assert info.value.code == "permission_denied"
    assert not SendingHalt.objects.exists() and active_halt() is None
    assert not ActivityLogEntry.objects.filter(action="sending.halted").exists()


def test_the_system_cannot_halt_by_hand():
    with pytest.raises(ApplicationError) as info:
        sending_halt_start(actor=SYSTEM, reason="Automation")
    assert info.value.code == "permission_denied"
    assert not SendingHalt.objects.exists()


@pytest.mark.parametrize("reason", ["", "   \n\t", None])
def test_a_halt_without_a_reason_is_refused(reason):
    with pytest.raises(ApplicationError) as info:
        sending_halt_start(actor=actor(ADMINISTRATOR), reason=reason)
    assert (info.value.code, info.value.field) == ("halt_reason_empty", "reason")
    assert "reason" in info.value.message
    assert not SendingHalt.objects.exists()


def test_a_reason_longer_than_the_banner_can_show_is_refused():
    with pytest.raises(ApplicationError) as info:
        sending_halt_start(actor=actor(ADMINISTRATOR), reason="x" * 1001)
    assert (info.value.code, info.value.field) == ("halt_reason_too_long", "reason")
    assert not SendingHalt.objects.exists()


def test_halting_while_halted_by_hand_says_so():
    first = sending_halt_start(actor=actor(APPROVER), reason="Wrong price in the spring campaign")
    with pytest.raises(ApplicationError) as info:
        sending_halt_start(actor=actor(ADMINISTRATOR), reason="Something else")
    assert info.value.code == "already_halted"
    assert (
        "already halted" in info.value.message and "Wrong price in the spring campaign" in info.value.message
    )
    assert SendingHalt.objects.get() == first
    assert ActivityLogEntry.objects.filter(action="sending.halted").count() == 1


def test_halting_while_whatsapp_halted_sending_says_so():
    halt_sending(reason="Access token expired", code=190)
    with pytest.raises(ApplicationError) as info:
        sending_halt_start(actor=actor(ADMINISTRATOR), reason="Stop everything")
    assert info.value.code == "already_halted" and "Access token expired" in info.value.message
    assert SendingHalt.objects.count() == 1


def test_a_manual_halt_losing_a_race_to_another_says_so(monkeypatch):
    """Two people press the button at once: the one-active-halt constraint lets one win."""
    winner = SendingHalt.objects.create(reason="first", started_by=UserFactory(role=APPROVER))
    real_filter = SendingHalt.objects.filter
    calls = []

    def filter_seeing_nothing_once(*args, **kwargs):
        calls.append(kwargs)
        qs = real_filter(*args, **kwargs)
        return qs.none() if len(calls) == 1 else qs

    monkeypatch.setattr(SendingHalt.objects, "filter", filter_seeing_nothing_once)
    with pytest.raises(ApplicationError) as info:
        sending_halt_start(actor=actor(ADMINISTRATOR), reason="second")
    assert info.value.code == "already_halted"
    assert list(real_filter(active=True)) == [winner]


def test_an_approver_cannot_clear_a_manual_halt_but_an_administrator_can():
    sending_halt_start(actor=actor(APPROVER), reason="Wrong audience")
    with pytest.raises(ApplicationError) as info:
        clear_halt(actor=actor(APPROVER))
    assert info.value.code == "permission_denied"
    halt = clear_halt(actor=actor(ADMINISTRATOR))
    assert not halt.active and active_halt() is None
    assert ActivityLogEntry.objects.filter(action="sending.halt_cleared").count() == 1


# --- What a manual halt stops -----------------------------------------------------------------


def make_reply(contact, text="Your order is on its way."):
    return send_message(contact=contact, actor=SYSTEM, text=text, reply_to=inbound_message(contact))


def test_a_manual_halt_holds_business_messages_but_replies_in_the_window_go(customer, stranger, order_update):
    business = send_message(
        contact=customer, actor=SYSTEM, template=order_update, parameters=ORDER_PARAMETERS
    )
    reply = make_reply(stranger)
    sending_halt_start(actor=actor(ADMINISTRATOR), reason="Checking a complaint")
    held = send_time_verdict(business)
    assert held.held and held.reason == HoldReason.HALT and held.until is None
    assert send_time_verdict(reply).go


def test_an_account_level_halt_still_holds_replies(stranger):
    reply = make_reply(stranger)
    halt_sending(reason="Access token expired", code=190)
    verdict = send_time_verdict(reply)
    assert verdict.held and verdict.reason == HoldReason.HALT


def test_a_stop_confirmation_is_sent_during_a_manual_halt(memory_backend, customer, order_update):
    business = send_message(
        contact=customer, actor=SYSTEM, template=order_update, parameters=ORDER_PARAMETERS
    )
    confirmation = make_reply(customer, "You won't get marketing messages from us any more.")
    sending_halt_start(actor=actor(APPROVER), reason="Checking a complaint")
    send_queued(business.pk)
    send_queued(confirmation.pk)
    business.refresh_from_db()
    confirmation.refresh_from_db()
    assert (business.status, business.hold_reason) == (MessageStatus.QUEUED, HoldReason.HALT)
    assert confirmation.status == MessageStatus.ACCEPTED
    assert [p["type"] for p in memory_backend.sent] == ["text"]


def test_a_reply_claimed_before_a_manual_halt_still_goes(memory_backend, monkeypatch, customer):
    """The halt can start while a claimed message waits for its rate slot: a reply still goes."""
    from messaging.sending import batch as batches

    reply = make_reply(customer)
    real_wait = batches.wait_for_slots
    halter = actor(ADMINISTRATOR)

    def halt_while_waiting(*args, **kwargs):
        sending_halt_start(actor=halter, reason="Halted mid-send")
        return real_wait(*args, **kwargs)

    monkeypatch.setattr(batches, "wait_for_slots", halt_while_waiting)
    send_queued(reply.pk)
    assert OutboundMessage.objects.get(pk=reply.pk).status == MessageStatus.ACCEPTED


def test_clearing_a_manual_halt_releases_the_held_business_messages(
    customer, order_update, monkeypatch, django_capture_on_commit_callbacks
):
    enqueued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda func, *args, **kw: enqueued.append(func))
    sending_halt_start(actor=actor(APPROVER), reason="Checking a complaint")
    message = send_message(contact=customer, actor=SYSTEM, template=order_update, parameters=ORDER_PARAMETERS)
    OutboundMessage.objects.filter(pk=message.pk).update(hold_reason=HoldReason.HALT, next_attempt_at=None)
    with django_capture_on_commit_callbacks(execute=True):
        clear_halt(actor=actor(ADMINISTRATOR))
    message.refresh_from_db()
    assert message.hold_reason == "" and enqueued == [DISPATCH_TASK]


# --- The admin: who sees the control, who can post it, who can clear ----------------------------


@pytest.mark.parametrize("role", ROLES)
def test_the_halt_control_is_on_every_admin_page_for_those_who_may_halt(client_for, role):
    client = client_for(UserFactory(role=role))
    for url in ("admin:index", "admin:messaging_outboundmessage_changelist"):
        response = client.get(reverse(url))
        if response.status_code == 403:
            continue
        html = response.content.decode()
        assert ('action="' + HALT_PAGE + '"' in html) == (role in MAY_HALT), (role, url)


@pytest.mark.parametrize("role", ROLES)
def test_the_halt_page_is_for_those_who_may_halt(client_for, role):
    response = client_for(UserFactory(role=role)).get(HALT_PAGE)
    if role in MAY_HALT:
        assert response.status_code == 200
        assert 'name="reason"' in response.content.decode()
    else:
        assert response.status_code == 403


@pytest.mark.parametrize("role", ROLES)
def test_posting_a_halt_from_the_admin(client_for, role):
    user = UserFactory(role=role)
    response = client_for(user).post(HALT_PAGE, {"reason": "Wrong price in the campaign"}, follow=True)
    if role in MAY_HALT:
        assert response.status_code == 200
        halt = SendingHalt.objects.get(active=True)
        assert halt.started_by == user and halt.reason == "Wrong price in the campaign"
        html = response.content.decode()
        assert "Sending is halted" in html and "Wrong price in the campaign" in html
        assert any("halted" in str(m) for m in response.context["messages"])
    else:
        assert response.status_code == 403
        assert not SendingHalt.objects.exists()


def test_the_banner_form_returns_to_the_page_it_was_posted_from(client_for, approver):
    page = reverse("admin:contacts_contact_changelist") + "?q=0151"
    response = client_for(approver).post(HALT_PAGE, {"reason": "Stop for now", "next": page})
    assert response.status_code == 302 and response.url == page
    assert SendingHalt.objects.filter(active=True).exists()


@pytest.mark.parametrize("unsafe", ["https://evil.example/", "//evil.example/admin/", "javascript:alert(1)"])
def test_the_banner_form_never_redirects_off_the_site(client_for, approver, unsafe):
    response = client_for(approver).post(HALT_PAGE, {"reason": "Stop for now", "next": unsafe})
    assert response.status_code == 302 and response.url == HALT_PAGE


@pytest.mark.parametrize("data", [{}, {"reason": ""}, {"reason": "   "}])
def test_a_halt_posted_without_a_reason_is_refused_on_the_page(client_for, administrator, data):
    response = client_for(administrator).post(HALT_PAGE, data)
    assert response.status_code == 200
    assert "Give a reason" in response.content.decode()
    assert not SendingHalt.objects.exists()


def test_a_halt_posted_while_halted_says_so(client_for, administrator):
    halt_sending(reason="Access token expired", code=190)
    response = client_for(administrator).post(HALT_PAGE, {"reason": "Stop"}, follow=True)
    assert any("already halted" in str(m) for m in response.context["messages"])
    assert SendingHalt.objects.count() == 1


@pytest.mark.parametrize("role", ROLES)
def test_clearing_from_the_admin_is_for_administrators(client_for, role):
    halt = sending_halt_start(actor=actor(APPROVER), reason="Checking a complaint")
    client = client_for(UserFactory(role=role))
    page = client.get(HALT_PAGE)
    if role in MAY_HALT:
        assert (f'action="{CLEAR_URL}"' in page.content.decode()) == (role in MAY_CLEAR)
    response = client.post(CLEAR_URL)
    halt.refresh_from_db()
    if role in MAY_CLEAR:
        assert response.status_code == 302 and not halt.active
        entry = ActivityLogEntry.objects.get(action="sending.halt_cleared")
        assert entry.actor_user.groups.get().name == role
    else:
        assert response.status_code == 403 and halt.active


def test_clearing_needs_a_post(client_for, administrator):
    sending_halt_start(actor=actor(APPROVER), reason="Checking a complaint")
    assert client_for(administrator).get(CLEAR_URL).status_code == 405
    assert SendingHalt.objects.filter(active=True).exists()


def test_clearing_when_nothing_is_halted_says_so(client_for, administrator):
    response = client_for(administrator).post(CLEAR_URL, follow=True)
    assert any("nothing to clear" in str(m) for m in response.context["messages"])


def test_the_banner_names_who_halted_by_hand_and_that_replies_still_go(client_for, approver, editor):
    sending_halt_start(actor=Actor.for_user(approver), reason="Checking a complaint")
    html = client_for(editor).get(reverse("admin:index")).content.decode()
    assert "Sending is halted" in html and "Checking a complaint" in html
    assert approver.username in html and "replies" in html


def test_a_superuser_halts_and_clears(client_for):
    boss = UserFactory(username="root", is_superuser=True)
    client = client_for(boss)
    client.post(HALT_PAGE, {"reason": "Audit"})
    assert SendingHalt.objects.get(active=True).started_by == boss
    client.post(CLEAR_URL)
    assert not SendingHalt.objects.filter(active=True).exists()


def test_the_halt_page_shows_the_error_for_an_account_level_halt(client_for, approver):
    halt_sending(reason="Access token expired", code=190)
    html = client_for(approver).get(HALT_PAGE).content.decode()
    assert "Access token expired" in html and "190" in html
    assert 'name="reason"' not in html


@pytest.mark.parametrize("role", ROLES)
def test_the_halt_list_links_to_the_halt_page_for_those_who_may_use_it(client_for, role):
    response = client_for(UserFactory(role=role)).get(reverse("admin:messaging_sendinghalt_changelist"))
    assert response.status_code == 200  # every role may read the halts
    assert (f'href="{HALT_PAGE}"' in response.content.decode()) == (role in MAY_HALT)

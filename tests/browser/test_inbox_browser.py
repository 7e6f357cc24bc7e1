"""The support inbox's thread in a real browser (inbox/static/inbox/thread.js).

A sandbox person writes first; an agent sees the conversation arrive in the list, opens it, answers
with a list composed in the composer (the live preview shows its rows), and sees the person's
choice arrive in the thread without a reload. An Auditor then reads the same page: no composer,
and the sandbox records no read mark for the visit. A second test goes through every tab of the
composer: its preview, and Meta's limits named as the agent types.

Everything travels the real way: the person's messages are the sandbox's signed webhooks to the
live server, our list goes out through the dispatcher, the read marks are Meta's mark-as-read calls
(run at once here, as the webhook processor is). Every wait is on a condition, never on time; any
error in the browser's console fails the test.
"""

import functools

import pytest
from django.urls import reverse

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

PHONE = "+4915211110042"
ROWS = ("Monday 10:00", "Tuesday 14:30", "Friday 09:15")
QUESTION = "Which slot suits you?"


@pytest.fixture
def live_sandbox(live_server, make_sandbox, settings, monkeypatch):
    """A sandbox the app sends to, whose webhooks go to the live server. Every message is read and
    answered by pressing one of its choices, so the person always picks a row of our list."""
    import django_q.tasks
    from django_q.tasks import async_task

    import messaging.webhooks.tasks
    from tests.sandbox import point_app_at

    sandbox = make_sandbox(
        webhook_url=live_server.url + "/webhooks/whatsapp/",
        read_share=1.0,
        reply_share=1.0,
        reply_mix={"button": 1.0},
    )
    point_app_at(settings, sandbox)
    settings.WHATSAPP_MESSAGING_LIMIT = "TIER_UNLIMITED"
    settings.WHATSAPP_MESSAGES_PER_SECOND = 1000
    synchronous = functools.partial(async_task, sync=True)
    # The webhook processor and the inbox's mark-as-read task run in the request's thread.
    monkeypatch.setattr(messaging.webhooks.tasks, "async_task", synchronous)
    monkeypatch.setattr(django_q.tasks, "async_task", synchronous)
    return sandbox


@pytest.fixture
def fast_polls(monkeypatch):
    from inbox import views_list, views_thread

    monkeypatch.setattr(views_list, "POLL_INTERVAL_MS", 200)
    monkeypatch.setattr(views_thread, "POLL_SECONDS", 0.2)


@pytest.fixture
def console_errors(page):
    """Every error the page's scripts log or throw, and every failed load; the test asserts there
    are none. The browser's own favicon request (the admin declares none) is answered empty."""
    errors = []
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204))
    page.on(
        "console",
        lambda message: (
            errors.append(f"{message.text} ({message.location['url']})") if message.type == "error" else None
        ),
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def thread_url(live_server, conversation) -> str:
    return f"{live_server.url}{reverse('admin:inbox_conversation_change', args=[conversation.pk])}"


@pytest.mark.postgres  # the webhook, the dispatcher and the page's polls write at once
def test_an_agent_answers_a_sandbox_person_with_a_list_and_sees_their_choice(
    live_sandbox, fast_polls, login, page, console_errors, live_server, support, auditor
):
    from inbox.models import Conversation
    from messaging.models import InboundMessage, OutboundMessage
    from messaging.sending import batch
    from tests.sandbox import control, wait_until

    agent_page = login(support)
    agent_page.goto(f"{live_server.url}{reverse('admin:inbox_conversation_changelist')}")
    assert agent_page.locator("#inbox-list tbody tr").count() == 0

    # The person writes first: the sandbox's webhook reaches the live server, the list shows them.
    control(live_sandbox, "inbound", {"from": PHONE, "kind": "text", "body": "Can I book a *table*?"})
    agent_page.wait_for_selector("#inbox-list tbody tr")
    conversation = Conversation.objects.get()
    agent_page.click(f'#inbox-list tbody tr[data-id="{conversation.pk}"] a')
    agent_page.wait_for_selector("#composer")
    first = agent_page.locator("#inbox-bubbles .inbox-in").first
    assert first.inner_text().startswith("Can I book a table?")
    assert first.locator("strong").inner_text() == "table"  # WhatsApp's *bold*
    # Opening it marked the person's message read on WhatsApp (blue ticks on their phone).
    written = InboundMessage.objects.get()
    wait_until(lambda: written.wamid in control(live_sandbox, "read_marks")["data"], 10)

    # A list, composed in its tab: the preview follows every keystroke, Send waits for a row.
    agent_page.click('[data-tab="list"]')
    pane = agent_page.locator("#composer-list")
    assert pane.is_visible() and agent_page.locator("#composer-text").is_hidden()
    send = pane.locator("button[type=submit]")
    assert send.is_disabled()
    pane.locator('[name="body"]').fill(QUESTION)
    pane.locator('[name="button"]').fill("Choose a slot")
    assert "Give at least one row" in pane.locator(".inbox-problems").inner_text()
    preview = pane.locator("[data-preview]")
    for number, title in enumerate(ROWS, start=1):
        pane.locator(f'[name="row_{number}"]').fill(title)
    pane.locator('[name="row_1_description"]').fill("With the chef")
    assert preview.locator(".inbox-row").all_inner_texts() == [
        f"{ROWS[0]}\nWith the chef",
        ROWS[1],
        ROWS[2],
    ]
    assert QUESTION in preview.inner_text() and "☰ Choose a slot" in preview.inner_text()
    assert pane.locator(".inbox-problems").inner_text() == ""
    assert send.is_enabled()
    send.click()
    agent_page.wait_for_selector(".messagelist .success")
    sent = OutboundMessage.objects.get()
    assert (sent.is_reply, sent.content["type"]) == (True, "list")
    ours = agent_page.locator(f"#out-{sent.pk}")
    assert ours.locator(".inbox-row").count() == 3

    # The dispatcher sends it; the person reads it and picks a row; the thread shows it.
    polled = int(agent_page.get_attribute("#inbox-thread", "data-polled") or 0)
    batch.dispatch()
    answer = wait_until(lambda: InboundMessage.objects.filter(type="interactive").first(), 30)
    chosen = answer.payload["interactive"]["list_reply"]["title"]
    assert chosen in ROWS
    bubble = agent_page.locator(f"#in-{answer.pk}")
    bubble.wait_for()
    assert bubble.locator(".inbox-answer").inner_text() == chosen
    assert QUESTION in bubble.locator(".inbox-quote").inner_text()
    assert int(agent_page.get_attribute("#inbox-thread", "data-polled")) > polled  # no reload: a poll
    # Our bubble's ticks follow too (the sandbox's person read it).
    agent_page.wait_for_selector(f'#out-{sent.pk}[data-status="read"]')
    # The agent watching the thread reads the answer: marked read on WhatsApp.
    wait_until(lambda: answer.wamid in control(live_sandbox, "read_marks")["data"], 10)
    assert console_errors == []
    # Logged out (the session ended): the page stops asking and says so.
    agent_page.context.clear_cookies()
    agent_page.wait_for_selector("#inbox-stopped")
    assert "logged out" in agent_page.inner_text("#inbox-stopped")

    # The person writes again while nobody watches; an Auditor reads the conversation.
    control(live_sandbox, "inbound", {"from": PHONE, "kind": "text", "body": "Thanks!"})
    wait_until(lambda: Conversation.objects.get().unread_count == 1, 30)
    marks = control(live_sandbox, "read_marks")["data"]
    auditor_page = login(auditor)
    auditor_page.goto(thread_url(live_server, conversation))
    assert "Thanks!" in auditor_page.locator("#inbox-bubbles .inbox-in").last.inner_text()
    assert auditor_page.locator("#composer").count() == 0
    assert auditor_page.locator("#inbox-resolve, #inbox-take, #inbox-add-note").count() == 0
    auditor_page.wait_for_function("Number(document.getElementById('inbox-thread').dataset.polled) >= 2")
    assert control(live_sandbox, "read_marks")["data"] == marks
    assert Conversation.objects.get().unread_count == 1
    assert console_errors == []


def test_each_tab_previews_as_the_agent_types_and_names_metas_limits(
    login, page, console_errors, live_server, support, monkeypatch
):
    from datetime import timedelta

    from django.db import transaction
    from django.utils import timezone

    from cloud_api.sandbox.media_samples import jpeg
    from inbox import services
    from inbox.models import CannedReply, Conversation
    from inbox.thread import PAGE_SIZE
    from tests.factories import ContactFactory
    from tests.inbox.thread_world import person_writes
    from tests.sandbox import wait_until

    queued = []
    monkeypatch.setattr("django_q.tasks.async_task", lambda *args, **kwargs: queued.append(args))
    person = ContactFactory(phone=PHONE, first_name="Pablo", language="en")
    start = timezone.now() - timedelta(hours=1)
    with transaction.atomic():  # as the webhook stores them: one page and a bit of history
        for number in range(1, PAGE_SIZE + 3):
            person_writes(person, f"Message {number}", at=start + timedelta(minutes=number))
        person_writes(person, "Hello?")
    CannedReply.objects.create(title="Greeting", language="en", body="Hi {{first_name}}, how can we help?")
    agent_page = login(support)
    agent_page.goto(thread_url(live_server, Conversation.objects.get()))

    # The newest page; "Earlier messages" brings the rest above it, in order, and goes.
    bubbles = agent_page.locator("#inbox-bubbles .inbox-bubble")
    assert bubbles.count() == PAGE_SIZE and bubbles.last.inner_text().startswith("Hello?")
    agent_page.click("#inbox-earlier")
    agent_page.wait_for_function(
        f"document.querySelectorAll('#inbox-bubbles .inbox-bubble').length === {PAGE_SIZE + 3}"
    )
    assert [bubbles.nth(i).locator(".inbox-body").inner_text() for i in range(3)] == [
        "Message 1",
        "Message 2",
        "Message 3",
    ]
    assert agent_page.locator("#inbox-earlier").count() == 0

    # Text: WhatsApp's markup in the preview, nothing typed becomes HTML; Send waits for words.
    pane = agent_page.locator("#composer-text")
    send = pane.locator("button[type=submit]")
    assert send.is_disabled() and pane.locator(".inbox-problems").inner_text() == "Write a message."
    pane.locator('[name="body"]').fill("*Hello* _there_ <b>x</b>")
    preview = pane.locator("[data-preview]")
    assert preview.locator("strong").inner_text() == "Hello" and preview.locator("em").inner_text() == "there"
    assert "<b>x</b>" in preview.inner_text() and preview.locator("b").count() == 0
    assert send.is_enabled()
    # Opening marked their message read; typing showed them "typing…", once (at most every 20 s).
    pane.locator('[name="body"]').press_sequentially(" more")
    latest = person.inbound_messages.get(text="Hello?").pk
    wait_until(lambda: len(queued) == 2)
    assert queued == [(services.MARK_READ_TASK, latest, False), (services.MARK_READ_TASK, latest, True)]

    # A canned reply goes into the text box at the cursor, its variables filled for this person:
    # the draft typed so far is kept.
    agent_page.click('[data-tab="canned"]')
    agent_page.click(".inbox-canned-pick")
    assert pane.is_visible()
    draft_and_canned = "*Hello* _there_ <b>x</b> more Hi Pablo, how can we help?"
    assert pane.locator('[name="body"]').input_value() == draft_and_canned
    assert preview.inner_text().endswith(" more Hi Pablo, how can we help?")
    pane.locator('[name="body"]').fill("")
    agent_page.click('[data-tab="canned"]')
    agent_page.click(".inbox-canned-pick")
    assert pane.locator('[name="body"]').input_value() == "Hi Pablo, how can we help?"

    # Reply buttons: a 21-character title is named with Meta's limit (never cut) and holds Send.
    agent_page.click('[data-tab="buttons"]')
    pane = agent_page.locator("#composer-buttons")
    send = pane.locator("button[type=submit]")
    pane.locator('[name="body"]').fill("Shall we confirm?")
    pane.locator('[name="button_1"]').fill("Reschedule my booking")
    assert pane.locator('[name="button_1"]').input_value() == "Reschedule my booking"
    assert pane.locator(".inbox-problems").inner_text() == (
        "Button 1 has 21 characters; WhatsApp allows at most 20."
    )
    assert send.is_disabled()
    pane.locator('[name="button_1"]').fill("Reschedule")
    pane.locator('[name="button_2"]').fill("Reschedule")
    assert pane.locator(".inbox-problems").inner_text() == "Each button needs a title of its own."
    pane.locator('[name="button_2"]').fill("Confirm")
    assert send.is_enabled()
    assert pane.locator("[data-preview] .inbox-choice").all_inner_texts() == ["Reschedule", "Confirm"]

    # A list: a row's title over 24 characters, a description without a title.
    agent_page.click('[data-tab="list"]')
    pane = agent_page.locator("#composer-list")
    pane.locator('[name="body"]').fill("Pick a slot")
    pane.locator('[name="button"]').fill("Slots")
    pane.locator('[name="row_1"]').fill("Monday morning, early-ish")
    pane.locator('[name="row_2_description"]').fill("After lunch")
    assert pane.locator(".inbox-problems").inner_text() == (
        "Row 1 has 25 characters; WhatsApp allows at most 24. Row 2 has a description but no title."
    )
    assert pane.locator("button[type=submit]").is_disabled()

    # Media: the type and the size against Meta's limits before anything is uploaded; a photo previewed.
    agent_page.click('[data-tab="media"]')
    pane = agent_page.locator("#composer-media")
    send = pane.locator("button[type=submit]")
    files = pane.locator('[name="file"]')
    files.set_input_files({"name": "setup.exe", "mimeType": "application/x-msdownload", "buffer": b"MZ"})
    assert pane.locator(".inbox-problems").inner_text().startswith("WhatsApp does not take “setup.exe”")
    assert send.is_disabled()
    big = jpeg() + b"\0" * (6 * 1024 * 1024)
    files.set_input_files({"name": "big.jpg", "mimeType": "image/jpeg", "buffer": big})
    assert pane.locator(".inbox-problems").inner_text() == (
        "The file “big.jpg” is 6.0 MB; WhatsApp takes images of at most 5.0 MB."
    )
    assert send.is_disabled()
    files.set_input_files({"name": "cat.jpg", "mimeType": "image/jpeg", "buffer": jpeg()})
    pane.locator('[name="caption"]').fill("Our _new_ menu")
    assert pane.locator(".inbox-problems").inner_text() == ""
    assert send.is_enabled()
    agent_page.wait_for_function("document.querySelector('#composer-media img.inbox-media').naturalWidth > 0")
    assert pane.locator("[data-preview] em").inner_text() == "new"
    assert console_errors == []

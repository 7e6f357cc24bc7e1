"""The composer in a real browser: what is missing is a quiet hint until the agent has typed, and a
canned reply never throws away a half-typed draft."""

import pytest
from django.urls import reverse

from tests.messaging.conftest import demo_templates  # noqa: F401 (fixture)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def agent_page(request, live_server, support, monkeypatch):
    from django.db import transaction

    from inbox.models import Conversation
    from tests.factories import ContactFactory
    from tests.inbox.thread_world import person_writes

    monkeypatch.setattr("django_q.tasks.async_task", lambda *args, **kwargs: None)
    person = ContactFactory(phone="+4915211110043", first_name="Anna", language="en")
    with transaction.atomic():  # as the webhook stores it
        person_writes(person, "Hello?")
    agent = request.getfixturevalue("login")(support)
    conversation = Conversation.objects.get(contact=person)
    agent.goto(live_server.url + reverse("admin:inbox_conversation_change", args=[conversation.pk]))
    return agent


def test_an_empty_composer_hints_until_the_agent_types_and_clears_it(agent_page):
    problems = agent_page.locator("#composer-text .inbox-problems")
    assert problems.inner_text() == "Write a message." and "inbox-hint" in problems.get_attribute("class")
    body = agent_page.locator("#composer-text [name=body]")
    body.fill("Hi")
    body.fill("")
    assert problems.inner_text() == "Write a message." and "inbox-hint" not in problems.get_attribute("class")


def test_the_template_form_outside_the_window_is_laid_out_like_the_other_tabs(
    request, live_server, support, monkeypatch
):
    from datetime import timedelta

    from django.db import transaction
    from django.utils import timezone

    from inbox.models import Conversation
    from tests.factories import ContactFactory
    from tests.inbox.thread_world import person_writes

    template = request.getfixturevalue("demo_templates")["order_update"]
    monkeypatch.setattr("django_q.tasks.async_task", lambda *args, **kwargs: None)
    person = ContactFactory(phone="+4915211110044", first_name="Emma", language="en")
    with transaction.atomic():
        person_writes(person, "Hello?", at=timezone.now() - timedelta(days=2))
    conversation = Conversation.objects.get(contact=person)
    agent = request.getfixturevalue("login")(support)
    agent.goto(
        live_server.url
        + reverse("admin:inbox_conversation_change", args=[conversation.pk])
        + f"?template={template.pk}"
    )
    form = agent.locator(".inbox-template-send")
    fields = form.locator(".inbox-pane-fields").bounding_box()
    preview = form.locator(".inbox-preview").bounding_box()
    assert fields["width"] > preview["width"] and fields["x"] < preview["x"]  # parameters left, preview right
    assert agent.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")

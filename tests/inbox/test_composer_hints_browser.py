"""The composer in a real browser: what is missing is a quiet hint until the agent has typed, and a
canned reply never throws away a half-typed draft."""

import pytest
from django.urls import reverse

from tests.browser.conftest import browser, login, page  # noqa: F401 (fixtures)

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

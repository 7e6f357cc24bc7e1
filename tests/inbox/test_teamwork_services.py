"""Assign, take, notes, resolve and reopen, canned replies: each with its log entry and refusals."""

import pytest

from contacts.models import ActivityLogEntry
from core.errors import ApplicationError
from inbox import services
from inbox.admin_canned import CannedReplyForm
from inbox.models import CannedReply, Conversation, ConversationNote, ConversationState
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
pytest_plugins = ["tests.inbox.thread_world"]


def code_of(call, *args, **kwargs) -> str:
    with pytest.raises(ApplicationError) as caught:
        call(*args, **kwargs)
    return caught.value.code


def test_take_assign_and_unassign_are_logged(conversation, support):
    other = UserFactory(username="sasha_support", role="Support")
    services.assign(conversation, to=support, by=support)
    assert Conversation.objects.get().assigned_to == support
    services.assign(conversation, to=other, by=support)
    services.assign(conversation, to=other, by=support)  # a double click changes nothing
    services.assign(conversation, to=None, by=support)
    assert Conversation.objects.get().assigned_to is None
    entries = ActivityLogEntry.objects.filter(action="conversation.assigned").order_by("id")
    assert [e.details["to"] for e in entries] == [support.pk, other.pk, None]


def test_only_agents_are_assignees_and_only_agents_assign(conversation, support, editor, auditor):
    inactive = UserFactory(username="gone_support", role="Support", is_active=False)
    for nobody in (editor, auditor, inactive):
        assert code_of(services.assign, conversation, to=nobody, by=support) == "assignee_invalid"
    assert code_of(services.assign, conversation, to=support, by=auditor) == "permission_denied"
    assert Conversation.objects.get().assigned_to is None


def test_notes_are_kept_and_logged_and_empty_ones_refused(conversation, support, auditor):
    note = services.add_note(conversation, author=support, text="  Called them back, parcel lost.  ")
    assert note.text == "Called them back, parcel lost."
    assert ActivityLogEntry.objects.get(action="conversation.note_added").details == {"note": note.pk}
    assert code_of(services.add_note, conversation, author=support, text="   ") == "note_empty"
    assert code_of(services.add_note, conversation, author=support, text="x" * 4001) == "note_too_long"
    assert code_of(services.add_note, conversation, author=auditor, text="Looks fine") == "permission_denied"
    assert ConversationNote.objects.count() == 1


def test_resolve_and_reopen_move_once_each(conversation, support, auditor):
    services.resolve(conversation, by=support)
    assert Conversation.objects.get().state == ConversationState.RESOLVED
    assert code_of(services.resolve, conversation, by=support) == "already_resolved"
    assert code_of(services.reopen, conversation, by=auditor) == "permission_denied"
    services.reopen(conversation, by=support)
    assert code_of(services.reopen, conversation, by=support) == "already_open"
    actions = list(
        ActivityLogEntry.objects.filter(action__startswith="conversation.")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["conversation.resolved", "conversation.reopened"]


def test_canned_replies_fill_variables_and_pick_the_contact_language(person):
    CannedReply.objects.create(title="Greeting", language="en", body="Hello {{first_name}}!")
    german = CannedReply.objects.create(
        title="Greeting", language="de", body="Hallo {{ first_name }} {{last_name}}!"
    )
    CannedReply.objects.create(title="Hours", language="fr", body="Ouvert 9-17h, {{phone}}")
    CannedReply.objects.create(title="Hours", language="en_US", body="Open 9-5, {{phone}}")
    chosen = {c.title: c for c in services.canned_for(person)}
    assert chosen["Greeting"] == german
    assert chosen["Hours"].language == "en_US"  # no German: the site's language before any other
    assert services.render_canned(german, person) == "Hallo Pablo Neruda!"
    assert services.render_canned(chosen["Hours"], person) == "Open 9-5, +4915112345678"


def test_an_unknown_variable_is_refused_when_the_canned_reply_is_saved():
    form = CannedReplyForm(
        data={"title": "Greeting", "language": "en", "body": "Hi {{frist_name}}", "active": True}
    )
    assert not form.is_valid()
    assert "{{frist_name}}" in form.errors["body"][0]
    assert code_of(services.check_canned_body, "{{ nope }}") == "canned_variable_unknown"

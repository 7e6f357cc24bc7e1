"""A reply answers an inbound message and is never marketing; Support no longer sends templates.

Replies need no opt-in and go through a halt started by hand, so the database now refuses a reply
without the inbound message it answers, and a marketing reply (docs/sending.md, "Replies").

Rows written before these rules (``send_message(is_reply=True)`` with no ``reply_to``) are fixed
first, so the constraints can be added on any database:

- a reply without ``reply_to`` gets the contact's latest inbound message sent in the 24 hours
  before it was created — the message it answered, since the window was checked against it;
- one that still has none, and every marketing "reply", becomes business-initiated
  (``is_reply = false``): if it is still queued the send-time rules ask for consent, quiet hours,
  the cap and the budget like any business message; if it went, it now counts towards the cap and
  the budget, as it should have.

Nothing else changes, and the fix is not undone backwards (what it wrote is true either way).
"""

from datetime import timedelta

from django.db import migrations, models
from django.db.models import DateTimeField, ExpressionWrapper, OuterRef, Subquery

from core.roles import SUPPORT, grant_permissions

WINDOW = timedelta(hours=24)  # Meta's customer service window (messaging.sending.reach.WINDOW)


def replies_answer_an_inbound_message(apps, schema_editor):
    OutboundMessage = apps.get_model("messaging", "OutboundMessage")
    InboundMessage = apps.get_model("messaging", "InboundMessage")
    created = OuterRef("created_at")
    answered = (
        InboundMessage.objects.filter(
            contact_id=OuterRef("contact_id"),
            sent_at__lte=created,
            sent_at__gt=ExpressionWrapper(created - WINDOW, output_field=DateTimeField()),
        )
        .order_by("-sent_at", "-id")
        .values("pk")[:1]
    )
    bare = OutboundMessage.objects.filter(is_reply=True, reply_to__isnull=True)
    looked_at = bare.exclude(purpose="marketing").update(reply_to=Subquery(answered))
    answered_now = looked_at - bare.exclude(purpose="marketing").count()
    business = bare.update(is_reply=False)
    business += OutboundMessage.objects.filter(is_reply=True, purpose="marketing").update(is_reply=False)
    if looked_at or business:
        print(
            f"\n  replies: {answered_now} now name the inbound message they answered; "
            f"{business} (none found, or a marketing template) are business-initiated now"
        )
    if schema_editor.connection.vendor == "postgresql":
        # The foreign keys are checked at commit; the constraints below alter the table, which
        # PostgreSQL refuses while such checks are pending. Check them now.
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")


# Granted to Support by 0002; run backwards, so forwards removes it and backwards grants it again.
_support_sends_templates = grant_permissions({SUPPORT: ["messaging.send_template_message"]})


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0006_outbound_idempotency_key"),
    ]

    operations = [
        migrations.RunPython(replies_answer_an_inbound_message, migrations.RunPython.noop, elidable=False),
        migrations.AddConstraint(
            model_name="outboundmessage",
            constraint=models.CheckConstraint(
                condition=models.Q(is_reply=False) | models.Q(reply_to__isnull=False),
                name="reply_answers_an_inbound_message",
            ),
        ),
        migrations.AddConstraint(
            model_name="outboundmessage",
            constraint=models.CheckConstraint(
                condition=models.Q(is_reply=False) | ~models.Q(purpose="marketing"),
                name="reply_is_never_marketing",
            ),
        ),
        # Support reads conversations, replies inside the window and records opt-outs; a template
        # from a contact's page is a business-initiated message, which is not theirs to send.
        migrations.RunPython(
            _support_sends_templates.reverse_code, _support_sends_templates.code, elidable=False
        ),
    ]

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def answers_keep_our_texts(apps, schema_editor):
    """Older answers kept the title the phone echoed back; give every answer our question text and
    option title instead. Nothing recorded which wording the person read, and our own stored texts
    are the better witness than words that came from outside (a forged webhook can say anything)."""
    Answer = apps.get_model("surveys", "Answer")
    Question = apps.get_model("surveys", "Question")
    Option = apps.get_model("surveys", "Option")
    Answer.objects.update(
        question_text=Subquery(Question.objects.filter(pk=OuterRef("question_id")).values("text")[:1]),
        option_title=Subquery(Option.objects.filter(pk=OuterRef("option_id")).values("title")[:1]),
    )


class Migration(migrations.Migration):
    """A run knows the message asking its latest question (withdrawn when the run is abandoned), and
    an answer keeps our question text and option title as they were sent."""

    dependencies = [
        ("messaging", "0011_message_media"),
        ("surveys", "0002_roles"),
    ]

    operations = [
        migrations.AddField(
            model_name="answer",
            name="question_text",
            field=models.TextField(default="", help_text="As we asked it.", max_length=4096),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="surveyrun",
            name="last_question_message",
            field=models.ForeignKey(
                blank=True,
                help_text="The message asking the latest question: withdrawn if still queued when the run "
                "is abandoned (an opt-out).",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="messaging.outboundmessage",
            ),
        ),
        migrations.AlterField(
            model_name="answer",
            name="option_title",
            field=models.CharField(help_text="Our option's title, as sent.", max_length=24),
        ),
        migrations.RunPython(answers_keep_our_texts, migrations.RunPython.noop),
    ]

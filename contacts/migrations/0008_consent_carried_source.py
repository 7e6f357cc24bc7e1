from django.db import migrations, models


class Migration(migrations.Migration):
    """An event a merge carries over keeps the source of the event it copies (``carried_source``).

    The order rule tells an import opt-in from an opt-out the person made on WhatsApp also after a
    merge (docs/consent.md). Adding the column writes no ledger row: existing events get "" (not
    carried), which is what every event but a merge copy is; copies made before this migration
    keep counting as plain "merge" events.
    """

    dependencies = [("contacts", "0007_truncate_guard")]

    operations = [
        migrations.AddField(
            model_name="consentevent",
            name="carried_source",
            field=models.CharField(
                blank=True,
                choices=[
                    ("web_form", "Web form"),
                    ("checkout", "Checkout"),
                    ("import", "Import"),
                    ("keyword", "WhatsApp keyword"),
                    ("button", "WhatsApp button"),
                    ("opt_in_link", "Opt-in link"),
                    ("staff", "Recorded by staff"),
                    ("api", "API"),
                    ("whatsapp_signal", "WhatsApp signal"),
                    ("merge", "Carried over in a merge"),
                ],
                default="",
                editable=False,
                max_length=16,
            ),
        ),
        migrations.AddConstraint(
            model_name="consentevent",
            constraint=models.CheckConstraint(
                condition=models.Q(carried_source="")
                | (models.Q(source="merge") & ~models.Q(carried_source="merge")),
                name="consent_carried_source_only_on_merge",
                violation_error_message="Only an event carried over by a merge names a carried source.",
            ),
        ),
    ]

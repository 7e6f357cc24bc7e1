from django.db import migrations, models


class Migration(migrations.Migration):
    """Imports: each staged row carries its contact's zone span, computed when its number is parsed."""

    dependencies = [
        ("contacts", "0012_contact_zones_and_test_numbers"),
    ]

    operations = [
        migrations.AddField(
            model_name="importrow",
            name="zone_earliest",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddField(
            model_name="importrow",
            name="zone_latest",
            field=models.CharField(blank=True, max_length=64),
        ),
    ]

"""factory-boy factories for the shared test world."""

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from contacts.models import ConsentAction, ConsentEvent, ConsentSource, ConsentWording, Contact, Purpose, Tag
from contacts.services import consent_wording_create, record_consent
from core.actors import Actor

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"staff{n}")
    is_staff = True
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if extracted:
            self.groups.add(Group.objects.get(name=extracted))
        self.save()


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"tag{n}")


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    # Valid German mobile numbers, unique per sequence value.
    phone = factory.Sequence(lambda n: f"+49151{n:08d}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    language = "de"
    country = "DE"


def make_wording(purpose=Purpose.MARKETING, language="en", text=None) -> ConsentWording:
    return consent_wording_create(
        purpose=purpose,
        language=language,
        text=text or f"Yes, send me {purpose} messages from Demo Shop on WhatsApp.",
        actor=Actor.system("tests"),
    )


def opt_in(contact, purpose=Purpose.MARKETING, *, occurred_at=None, actor=None, **kwargs):
    return record_consent(
        contact=contact,
        purpose=purpose,
        action=ConsentAction.OPT_IN,
        source=kwargs.pop("source", ConsentSource.WEB_FORM),
        actor=actor or Actor.system("tests"),
        occurred_at=occurred_at or timezone.now(),
        wording_text=kwargs.pop("wording_text", "Yes, send me WhatsApp messages from Demo Shop."),
        **kwargs,
    )


def opt_out(contact, purpose=Purpose.MARKETING, *, occurred_at=None, actor=None, **kwargs):
    return record_consent(
        contact=contact,
        purpose=purpose,
        action=ConsentAction.OPT_OUT,
        source=kwargs.pop("source", ConsentSource.STAFF),
        actor=actor or Actor.system("tests"),
        occurred_at=occurred_at or timezone.now(),
        **kwargs,
    )


def ledger_event(
    contact, *, action, source, carried="", occurred_at, recorded_at, purpose=Purpose.MARKETING
) -> ConsentEvent:
    """A ledger event written as it stands, times and all, bypassing record_consent's rules: for
    property tests that build any ledger and compare a rule's implementations on it. A merge's copy
    without ``carried`` names its original in the evidence, as copies made before that column did."""
    legacy_copy = {"original_source": ConsentSource.BUTTON}
    event = ConsentEvent(
        contact=contact,
        purpose=purpose,
        action=action,
        source=source,
        carried_source=carried,
        wording_text="Yes please" if action == ConsentAction.OPT_IN else "",
        evidence=legacy_copy if source == ConsentSource.MERGE and not carried else {},
        occurred_at=occurred_at,
        recorded_at=recorded_at,
    )
    event.set_actor(Actor.system("tests"))
    event.save()
    return event


def make_segment(name: str | None = None, rules: dict | None = None):
    """A segment through the service (so it has its version 1); German contacts by default."""
    from contacts.segments.services import segment_create

    return segment_create(
        name=name or f"Segment {next(_segment_numbers)}",
        rules=rules or {"op": "all", "rules": [{"kind": "country", "in": ["DE"]}]},
        actor=Actor.system("tests"),
    )


_segment_numbers = iter(range(1, 10**9))


def _campaign_template():
    from templates_app.demo import seed_templates

    return {t.name: t for t in seed_templates(actor=Actor.system("tests"))}["appointment_reminder"]


class CampaignFactory(factory.django.DjangoModelFactory):
    """A draft of the demo's appointment_reminder (UTILITY, text header) to German contacts; rows
    only — the workflow's services write authors and transitions."""

    class Meta:
        model = "messaging.Campaign"

    name = factory.Sequence(lambda n: f"Campaign {n}")
    template = factory.LazyFunction(_campaign_template)
    segment = factory.LazyFunction(make_segment)
    purpose = factory.LazyAttribute(
        lambda o: "marketing" if o.template.category == "MARKETING" else "service"
    )


class TestNumberFactory(factory.django.DjangoModelFactory):
    __test__ = False  # a factory, not a test class (pytest collects Test* names)

    class Meta:
        model = "contacts.TestNumber"

    contact = factory.SubFactory(ContactFactory)
    label = factory.Sequence(lambda n: f"Staff phone {n}")

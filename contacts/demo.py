"""Demo contacts with consent histories, for `make run`. Deterministic and safe to run twice."""

import random
from datetime import timedelta

from django.utils import timezone

from contacts import services
from contacts.models import (
    AttributeDefinition,
    AttributeType,
    ConsentAction,
    ConsentSource,
    ConsentWording,
    Contact,
    Purpose,
    Tag,
)
from contacts.phones import normalize_phone
from core.actors import Actor

WORDINGS = {
    (
        Purpose.MARKETING,
        "en",
    ): "Yes, I'd like offers and news from Demo Shop on WhatsApp. I can reply STOP at any time.",
    (Purpose.MARKETING, "de"): "Ja, ich möchte Angebote und Neuigkeiten von Demo Shop per WhatsApp erhalten. "
    "Abmelden jederzeit mit STOP.",
    (Purpose.SERVICE, "en"): "Send me order and delivery updates from Demo Shop on WhatsApp.",
    (Purpose.SERVICE, "de"): "Schickt mir Bestell- und Lieferinfos von Demo Shop per WhatsApp.",
}

PEOPLE = [
    ("Anna", "Schmidt", "+49 151 23456701", "de", "Europe/Berlin"),
    ("Lukas", "Müller", "0151 23456702", "de", ""),
    ("Sofia", "Rossi", "+39 312 345 6703", "it", "Europe/Rome"),
    ("James", "Taylor", "+44 7911 123456", "en_GB", "Europe/London"),
    ("Maria", "Silva", "+55 11 91234-5670", "pt_BR", ""),
    ("Carlos", "Hernández", "+52 55 1234 5670", "es_MX", ""),
    ("Emma", "Dubois", "+33 6 12 34 56 70", "fr", "Europe/Paris"),
    ("Noah", "Becker", "+49 160 1234570", "de", ""),
    ("Olivia", "Smith", "+61 412 345 670", "en", ""),
    ("Liam", "Wagner", "+43 664 1234570", "de_AT", "Europe/Vienna"),
]


# Custom fields the demo declares, so segments and imports can use them typed.
ATTRIBUTES = [
    ("customer_no", "Customer number", AttributeType.TEXT),
    ("orders", "Orders placed", AttributeType.NUMBER),
    ("customer_since", "Customer since", AttributeType.DATE),
    ("loyalty_card", "Has a loyalty card", AttributeType.BOOLEAN),
]


def seed_contacts(*, actor: Actor) -> int:
    """Create the demo wordings, custom fields, tags and contacts; returns how many contacts were created."""
    for key, label, kind in ATTRIBUTES:
        AttributeDefinition.objects.get_or_create(key=key, defaults={"label": label, "type": kind})
    wordings = {}
    for (purpose, language), text in WORDINGS.items():
        wording = ConsentWording.objects.filter(purpose=purpose, language=language).first()
        wordings[(purpose, language)] = wording or services.consent_wording_create(
            purpose=purpose, language=language, text=text, actor=actor
        )
    vip, _ = Tag.objects.get_or_create(name="VIP")
    newsletter, _ = Tag.objects.get_or_create(name="Newsletter")
    rng = random.Random(42)
    now = timezone.now()
    created = 0
    for index, (first, last, phone, language, zone) in enumerate(PEOPLE):
        e164 = normalize_phone(phone)
        if Contact.objects.filter(phone=e164).exists():
            continue
        joined = now - timedelta(days=rng.randint(30, 400))
        attributes = {
            "customer_no": f"DEMO-{4700 + index}",
            "orders": rng.randint(0, 12),
            "customer_since": f"{joined:%Y-%m-%d}",
            "loyalty_card": index % 3 == 0,
        }
        contact = Contact(
            phone=e164,
            first_name=first,
            last_name=last,
            language=language,
            time_zone=zone,
            attributes=attributes,
        )
        contact.full_clean()
        contact.save()
        contact.tags.add(*([vip] if index % 4 == 0 else []), *([newsletter] if index % 2 == 0 else []))
        created += 1
        wording_language = "de" if language.startswith("de") else "en"
        services.record_consent(
            contact=contact,
            purpose=Purpose.SERVICE,
            action=ConsentAction.OPT_IN,
            source=ConsentSource.CHECKOUT,
            actor=actor,
            occurred_at=joined,
            wording=wordings[(Purpose.SERVICE, wording_language)],
            evidence={"order": f"DEMO-{1000 + index}", "ip": f"203.0.113.{index + 10}"},
        )
        if index % 3 != 2:
            services.record_consent(
                contact=contact,
                purpose=Purpose.MARKETING,
                action=ConsentAction.OPT_IN,
                source=ConsentSource.WEB_FORM,
                actor=actor,
                occurred_at=joined + timedelta(days=1),
                wording=wordings[(Purpose.MARKETING, wording_language)],
                evidence={"page": "https://shop.example/newsletter", "user_agent": "Mozilla/5.0 (demo)"},
            )
        if index % 5 == 4:
            services.record_consent(
                contact=contact,
                purpose=Purpose.MARKETING,
                action=ConsentAction.OPT_OUT,
                source=ConsentSource.STAFF,
                actor=actor,
                occurred_at=joined + timedelta(days=20),
                evidence={"note": "Asked by phone to stop offers"},
            )
    return created

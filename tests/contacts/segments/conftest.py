"""A hand-built set of contacts whose memberships the segment tests list by hand."""

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from contacts.models import AttributeDefinition, ConsentSource, Contact, Purpose
from tests.factories import ContactFactory, TagFactory, opt_in, opt_out


@dataclass
class People:
    ana: Contact
    ben: Contact
    cai: Contact
    dee: Contact
    eve: Contact  # merged into ana: never a member

    def names(self, contacts) -> list[str]:
        return sorted(c.first_name for c in contacts)


def _local(*args) -> datetime:
    return timezone.make_aware(datetime(*args))


@pytest.fixture
def people(db) -> People:
    now = timezone.now()
    AttributeDefinition.objects.create(key="orders", type="number")
    AttributeDefinition.objects.create(key="tier", type="text")
    AttributeDefinition.objects.create(key="birthday", type="date")
    AttributeDefinition.objects.create(key="newsletter", type="boolean")
    vip, lapsed = TagFactory(name="VIP"), TagFactory(name="lapsed")

    ana = ContactFactory(
        first_name="ana",
        language="de",
        country="DE",
        time_zone="Europe/Berlin",
        attributes={"orders": 5, "tier": "Gold", "birthday": "1990-05-01", "newsletter": True},
    )
    ben = ContactFactory(
        first_name="ben",
        language="en",
        country="GB",
        time_zone="Europe/London",
        attributes={"orders": 2.5, "tier": "silver", "birthday": "1985-12-24", "newsletter": False},
    )
    # Values of the wrong type count as not set (and never break the query).
    cai = ContactFactory(
        first_name="cai",
        language="es",
        country="ES",
        time_zone="",
        attributes={"orders": "many", "tier": "", "birthday": "1990-02-30x", "newsletter": "yes"},
    )
    dee = ContactFactory(first_name="dee", language="pt_BR", country="BR", time_zone="", attributes={})
    eve = ContactFactory(first_name="eve", language="de", country="DE", attributes={"orders": 9})

    ana.tags.add(vip)
    ben.tags.add(vip, lapsed)
    eve.tags.add(vip)

    opt_in(ana, Purpose.MARKETING, occurred_at=_local(2025, 3, 10, 12), source=ConsentSource.WEB_FORM)
    opt_in(ben, Purpose.MARKETING, occurred_at=_local(2025, 1, 5, 12), source=ConsentSource.IMPORT)
    opt_out(ben, Purpose.MARKETING, occurred_at=_local(2025, 2, 1, 12))
    opt_in(dee, Purpose.SERVICE, occurred_at=_local(2025, 4, 1, 12), source=ConsentSource.IMPORT)
    opt_in(eve, Purpose.MARKETING, occurred_at=_local(2025, 3, 1, 12))

    Contact.objects.filter(pk=ana.pk).update(
        created_at=_local(2024, 1, 10, 9), last_inbound_at=now - timedelta(days=2)
    )
    Contact.objects.filter(pk=ben.pk).update(
        created_at=_local(2024, 6, 1, 9), last_inbound_at=now - timedelta(days=40)
    )
    Contact.objects.filter(pk=cai.pk).update(created_at=_local(2024, 6, 2, 9))
    Contact.objects.filter(pk=dee.pk).update(created_at=now - timedelta(days=3))
    Contact.objects.filter(pk=eve.pk).update(
        created_at=now - timedelta(days=1), last_inbound_at=now, merged_into=ana, merged_at=now
    )
    return People(*(Contact.objects.get(pk=c.pk) for c in (ana, ben, cai, dee, eve)))

"""Changes to many contacts at once: tags, language, an opt-out (the contact list's bulk actions).

Each function takes the selection as a queryset of contacts and changes it with a constant number
of statements whatever its size (an ``UPDATE``/``DELETE`` over a subquery, an ``INSERT … SELECT``),
never a loop over rows: "select all" on the contact list may mean hundreds of thousands of people.
Each writes one activity-log entry with the counts and what the selection was.

A selection stands for people: a merged-away row in it stands for the contact it was merged into
(``COALESCE(merged_into_id, id)``; merged-away rows point at their survivor directly). The
merged-away row itself is evidence and never changes, and an opt-out is recorded where consent
lives, on the survivor.
"""

from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import QuerySet
from django.db.models.functions import Coalesce, Lower
from django.utils import timezone

from contacts.consent_bulk import current_consent_refresh_bulk, lock_contacts
from contacts.languages import META_LANGUAGES
from contacts.ledger_chain import link_events
from contacts.models import ConsentAction, ConsentEvent, ConsentSource, Contact, Purpose, Tag
from contacts.services import log_activity
from core.actors import Actor
from core.errors import ApplicationError

TAG_NAME_MAX = Tag._meta.get_field("name").max_length
# A form typed by a person names a handful of tags; a bound keeps the statements' parameters small.
MAX_TAGS_PER_ACTION = 50


@dataclass(frozen=True)
class BulkOutcome:
    """``people``: the contacts the selection stands for; ``changed``: the rows the action wrote
    (tag links added or removed, contacts whose language changed, consent events recorded)."""

    people: int
    changed: int


def selection_people(contacts: QuerySet[Contact]) -> QuerySet[Contact]:
    """The ids of the people a selection stands for: each row's survivor, or the row itself."""
    survivors = contacts.order_by().values(person=Coalesce("merged_into_id", "pk"))
    return Contact.objects.filter(pk__in=survivors).order_by().values("pk")


def contacts_add_tags(
    *,
    contacts: QuerySet[Contact],
    tag_names: list[str],
    actor: Actor,
    create_missing: bool = True,
    selection: dict | None = None,
) -> BulkOutcome:
    """Tag the selected people; a tag that does not exist yet (compared case-insensitively) is made,
    unless ``create_missing`` is off (the actor may tag contacts but not make tags).

    Links already there are left alone (``ON CONFLICT DO NOTHING``), so running it twice adds nothing.
    """
    names = clean_tag_names(tag_names)
    if not create_missing:
        _refuse_unknown_tags(names, then="you may add existing tags, not make new ones; nothing was added")
    people = selection_people(contacts)
    through = Contact.tags.through
    with transaction.atomic():
        # One statement for the missing tags; a tag made at the same moment by someone else is kept.
        Tag.objects.bulk_create([Tag(name=name) for name in names], ignore_conflicts=True)
        tags = list(Tag.objects.annotate(key=Lower("name")).filter(key__in=[n.lower() for n in names]))
        count = people.count()
        people_sql, params = people.query.sql_with_params()
        quote = connection.ops.quote_name
        placeholders = ", ".join(["%s"] * len(tags))
        with connection.cursor() as cursor:
            # The WHERE also keeps SQLite from reading ON CONFLICT as a join's ON.
            cursor.execute(
                f"INSERT INTO {quote(through._meta.db_table)} (contact_id, tag_id) "
                f"SELECT person.id, tag.id FROM {quote(Contact._meta.db_table)} AS person "
                f"CROSS JOIN {quote(Tag._meta.db_table)} AS tag "
                f"WHERE person.id IN ({people_sql}) AND tag.id IN ({placeholders}) "
                "ON CONFLICT DO NOTHING",
                [*params, *[tag.pk for tag in tags]],
            )
            added = cursor.rowcount
        names = sorted(tag.name for tag in tags)
        log_activity(
            actor=actor,
            action="contact.bulk_tags_added",
            details={"count": count, "links_added": added, "tags": names, "selection": selection or {}},
        )
    return BulkOutcome(people=count, changed=added)


def contacts_remove_tags(
    *, contacts: QuerySet[Contact], tag_names: list[str], actor: Actor, selection: dict | None = None
) -> BulkOutcome:
    """Take the named tags (any case) off the selected people; the tags themselves stay."""
    tags = _refuse_unknown_tags(clean_tag_names(tag_names), then="nothing was removed")
    people = selection_people(contacts)
    with transaction.atomic():
        count = people.count()
        removed, _ = Contact.tags.through.objects.filter(
            contact_id__in=people, tag_id__in=[tag.pk for tag in tags]
        ).delete()
        log_activity(
            actor=actor,
            action="contact.bulk_tags_removed",
            details={
                "count": count,
                "links_removed": removed,
                "tags": sorted(tag.name for tag in tags),
                "selection": selection or {},
            },
        )
    return BulkOutcome(people=count, changed=removed)


def contacts_set_language(
    *, contacts: QuerySet[Contact], language: str, actor: Actor, selection: dict | None = None
) -> BulkOutcome:
    """Set the selected people's language (a Meta template language code, ``contacts.languages``)."""
    if language not in META_LANGUAGES:
        raise ApplicationError(
            f"“{language}” is not one of WhatsApp's template languages (e.g. en, de, pt_BR).",
            code="invalid_language",
            field="language",
        )
    people = selection_people(contacts)
    with transaction.atomic():
        count = people.count()
        changed = (
            Contact.objects.filter(pk__in=people)
            .exclude(language=language)
            .update(language=language, updated_at=timezone.now())
        )
        log_activity(
            actor=actor,
            action="contact.bulk_language_set",
            details={"count": count, "changed": changed, "language": language, "selection": selection or {}},
        )
    return BulkOutcome(people=count, changed=changed)


def contacts_record_opt_out(
    *,
    contacts: QuerySet[Contact],
    purposes: list[str],
    reason: str,
    actor: Actor,
    selection: dict | None = None,
) -> BulkOutcome:
    """Record an opt-out for every selected person, per purpose, as staff (source ``staff``).

    The set-based form of ``record_consent`` for opt-outs: under the people's row locks, one
    ``INSERT … SELECT`` per purpose appends an event per person (evidence: the reason, that it was a
    bulk action of how many people, and by whom), then current consent is recomputed for the set
    with the order rule (``contacts.consent_bulk``). An opt-out needs no check: withdrawing consent
    is always allowed, and it is dated now, so no recorded opt-in can outvote it.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError(
            "Say why these people are opted out (kept as the evidence of each opt-out).",
            code="reason_required",
            field="reason",
        )
    if not purposes or any(purpose not in Purpose.values for purpose in purposes):
        allowed = ", ".join(Purpose.values)
        raise ApplicationError(
            f"Choose the purposes to opt out of from: {allowed}.", code="invalid_purpose", field="purposes"
        )
    purposes = [purpose for purpose in Purpose.values if purpose in purposes]
    people = selection_people(contacts)
    recorded = 0
    with transaction.atomic():
        lock_contacts(people)
        count = people.count()
        now = timezone.now()
        evidence = {"reason": reason, "bulk": True, "selected": count, "by": actor.label}
        for purpose in purposes:
            recorded += _insert_opt_outs(people, purpose=purpose, actor=actor, evidence=evidence, now=now)
            current_consent_refresh_bulk(contacts=people, purpose=purpose)
        log_activity(
            actor=actor,
            action="consent.bulk_opt_out_recorded",
            details={
                "count": count,
                "events": recorded,
                "purposes": purposes,
                "reason": reason,
                "selection": selection or {},
            },
        )
    return BulkOutcome(people=count, changed=recorded)


def _insert_opt_outs(people: QuerySet, *, purpose: str, actor: Actor, evidence: dict, now) -> int:
    """One staff opt-out event for ``purpose`` per person, in one INSERT … SELECT, and its chain
    link; the number of events.

    The actor columns are those ``ActorFields.set_actor`` writes; ``effective_at`` is the
    database's to compute.
    """
    event = ConsentEvent(
        purpose=purpose,
        action=ConsentAction.OPT_OUT,
        source=ConsentSource.STAFF,
        evidence=evidence,
        occurred_at=now,
        recorded_at=now,
    )
    event.set_actor(actor)
    fields = [
        ConsentEvent._meta.get_field(name)
        for name in (
            "purpose",
            "action",
            "source",
            "wording_text",
            "evidence",
            "occurred_at",
            "recorded_at",
            "signal_key",
            "carried_source",
            "actor_kind",
            "actor_user",
            "actor_ref",
            "actor_label",
        )
    ]
    # Each value as the field itself would write it on this database (JSON, instants).
    values = [field.get_db_prep_save(getattr(event, field.attname), connection) for field in fields]
    columns = [field.column for field in fields]
    people_sql, params = people.query.sql_with_params()
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(ConsentEvent._meta.db_table)} "
            f"(contact_id, {', '.join(quote(c) for c in columns)}) "
            f"SELECT person.id, {', '.join(['%s'] * len(values))} "
            f"FROM {quote(Contact._meta.db_table)} AS person WHERE person.id IN ({people_sql}) "
            "RETURNING id",
            [*values, *params],
        )
        event_ids = [event_id for (event_id,) in cursor.fetchall()]
    # Their links in the people's chains, under the same locks (docs/consent-chain.md).
    return link_events(event_ids)


def _refuse_unknown_tags(names: list[str], *, then: str) -> list[Tag]:
    """The tags of these names (any case); refused, naming them, when some do not exist."""
    tags = list(Tag.objects.annotate(key=Lower("name")).filter(key__in=[name.lower() for name in names]))
    known = {tag.name.lower() for tag in tags}
    unknown = [name for name in names if name.lower() not in known]
    if unknown:
        raise ApplicationError(
            f"There is no tag named {', '.join(f'“{name}”' for name in unknown)}: {then}.",
            code="unknown_tag",
            field="tags",
        )
    return tags


def clean_tag_names(tag_names: list[str]) -> list[str]:
    """The names given, stripped and without repeats in any case; refused when blank or too long."""
    names: dict[str, str] = {}
    for raw in tag_names:
        name = (raw or "").strip()
        if not name:
            raise ApplicationError(
                "A tag name is blank: give each tag a name.", code="tag_name_blank", field="tags"
            )
        if len(name) > TAG_NAME_MAX:
            raise ApplicationError(
                f"The tag name “{name[:20]}…” is {len(name)} characters long; a tag name has at most "
                f"{TAG_NAME_MAX}.",
                code="tag_name_too_long",
                field="tags",
            )
        names.setdefault(name.lower(), name)
    if not names:
        raise ApplicationError("Name at least one tag.", code="tags_required", field="tags")
    if len(names) > MAX_TAGS_PER_ACTION:
        raise ApplicationError(
            f"{len(names)} tags at once is more than the {MAX_TAGS_PER_ACTION} one action takes.",
            code="too_many_tags",
            field="tags",
        )
    return list(names.values())

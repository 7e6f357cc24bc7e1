"""Tamper evidence for the consent ledger: per-contact HMAC chains (docs/consent-chain.md).

Every writer of ledger events links them here in the same transaction, under the contact's row
lock: ``link_event`` for ``record_consent`` (one event), ``link_events`` for the set-based writers
(an import's chunk, a bulk opt-out: the events they just inserted, one bulk insert of links). A
link's MAC is HMAC-SHA256 over the event's canonical content, its position and the previous link's
MAC, under ``CONSENT_CHAIN_KEY``, which the database never sees.

The canonical content is versioned (``FORM``) and names the evidence by its SHA-256 digest, so a
later redaction of personal data in the evidence can keep the chain verifiable by keeping the
digest. Once a form is in use it never changes: a new form is a new number, and links keep the
form they were made with.

``anchor_heads`` (daily) writes a digest over every chain's head to the activity log; exports
print ``latest_anchor``. ``contacts.ledger_verify`` recomputes the chains.

Since every writer passes here, this is also where new events are announced
(``contacts.signals.consent_events_recorded``, in the same transaction).
"""

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from contacts.models import ActivityLogEntry, ConsentChainLink, ConsentEvent
from contacts.signals import consent_events_recorded
from core.actors import Actor

# The version of the canonical form new links are made with.
FORM = 1
# The event columns the canonical form reads, with the text of the wording version it names.
EVENT_FIELDS = (
    "id",
    "contact_id",
    "purpose",
    "action",
    "source",
    "carried_source",
    "signal_key",
    "wording_id",
    "wording__text",
    "wording_text",
    "evidence",
    "occurred_at",
    "recorded_at",
    "actor_kind",
    "actor_user_id",
    "actor_ref",
    "actor_label",
)
# Links written per INSERT by the set-based writers and the migration.
LINK_BATCH = 2000
# An anchor covers the links created up to this long before it is taken, so every transaction that
# wrote one has committed (imports and record_consent hold theirs for seconds, inside the 60-second
# task timeout): recomputed later, the anchor's heads are the same links.
ANCHOR_MARGIN = timedelta(minutes=10)
ANCHOR_ACTION = "consent_chain.anchored"
ANCHOR_SCHEDULE_NAME = "consent chain: daily anchor"
SYSTEM_LABEL = "consent chain"

_KEY_ID_LABEL = b"consent-chain key id"
_SEAL_LABEL = b"consent-chain anchor\n"
# What an anchor's seal covers.
SEALED_FIELDS = ("digest", "through", "chains", "links", "previous_seal", "key_id")


# --- Keys ----------------------------------------------------------------------------------------


def key_id(key: str) -> str:
    """A fingerprint naming the key on each link; derived with the key itself, so it tells nothing."""
    return hmac.new(key.encode(), _KEY_ID_LABEL, hashlib.sha256).hexdigest()[:16]


@lru_cache(maxsize=4)
def _keys(current: str, previous: tuple[str, ...]) -> tuple[str, dict[str, bytes]]:
    keys = {key_id(key): key.encode() for key in (*previous, current)}
    return key_id(current), keys


def chain_keys() -> tuple[str, dict[str, bytes]]:
    """The current key's id and every configured key by id (the current one and the retired ones)."""
    return _keys(settings.CONSENT_CHAIN_KEY, tuple(settings.CONSENT_CHAIN_PREVIOUS_KEYS))


# --- The canonical form --------------------------------------------------------------------------


def _plain(value):
    """The JSON value as the database gives it back: a float with an integral value becomes the
    integer its JSON text stands for (jsonb reads 1e23 back as 100000000000000000000000 — not
    ``int(1e23)``, 99999999999999991611392 — and -0.0 as 0, which Python's json reads as those
    integers), keys become the text ``json.dumps`` makes of them (``True`` → ``"true"``)."""
    kind = type(value)
    if kind is float:
        if not value.is_integer():
            return value
        return int(Decimal(repr(value)))  # the number the stored text "1e+23" stands for
    if kind is dict:
        return {_key(key): _plain(item) for key, item in value.items()}
    if kind is list or kind is tuple:
        return [_plain(item) for item in value]
    return value


def _key(key) -> str:
    """A mapping key as ``json.dumps`` writes it, so the digest is that of what is stored."""
    if isinstance(key, str):
        return key
    if isinstance(key, bool) or key is None:
        return json.dumps(key)
    if isinstance(key, float):
        return float.__repr__(key)
    return str(key)


def canonical_json(value) -> str:
    """JSON with sorted keys, no spaces, text as itself, and an integral number always written as
    an integer, so the same evidence has one spelling whether it comes from the caller or the
    database."""
    return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def evidence_digest(evidence) -> str:
    """The SHA-256 of the evidence's canonical JSON: what the chain holds instead of the evidence."""
    return hashlib.sha256(canonical_json(evidence if evidence is not None else {}).encode()).hexdigest()


def _sha256(text: str | None) -> str | None:
    return None if text is None else hashlib.sha256(text.encode()).hexdigest()


def _instant(moment: datetime) -> str:
    """ISO 8601 in UTC, always with its six digits of microseconds: 2026-12-01T03:15:44.000000+00:00."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def canonical_event(row: Mapping) -> bytes:
    """Form 1 of an event (a mapping of ``EVENT_FIELDS``): ids, what was decided, by whom, when to
    the microsecond in UTC, the wording by id and text digest, the evidence by digest."""
    document = {
        "form": 1,
        "event": row["id"],
        "contact": row["contact_id"],
        "purpose": row["purpose"],
        "action": row["action"],
        "source": row["source"],
        "carried_source": row["carried_source"],
        "signal_key": row["signal_key"],
        "wording": row["wording_id"],
        "wording_sha256": _sha256(row["wording__text"]) if row["wording_id"] is not None else None,
        "wording_text_sha256": _sha256(row["wording_text"]),
        "occurred_at": _instant(row["occurred_at"]),
        "recorded_at": _instant(row["recorded_at"]),
        "actor": [row["actor_kind"], row["actor_user_id"], row["actor_ref"], row["actor_label"]],
        "evidence_sha256": evidence_digest(row["evidence"]),
    }
    # Ids, text and None only (the evidence is in by its digest): plain sorted JSON is canonical.
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def link_mac(key: bytes, content: bytes, position: int, previous_mac: str) -> str:
    """HMAC-SHA256(key, content ‖ position ‖ previous MAC); the position and the previous MAC after
    a newline, which the canonical JSON never contains."""
    message = content + f"\n{position}\n{previous_mac}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def event_row(event) -> dict:
    """A saved event as the mapping ``canonical_event`` reads, from the instance (no query)."""
    row = {name: getattr(event, name) for name in EVENT_FIELDS if name != "wording__text"}
    row["wording__text"] = event.wording.text if event.wording_id is not None else None
    return row


def chain_rows(rows: Iterable[Mapping], heads: Mapping[int, tuple[int, str]], *, now=None) -> list[dict]:
    """The link fields for ``rows`` (events ordered by contact and id), each contact's chain
    continuing from its head in ``heads`` (contact id → (position, MAC)); ``heads`` is not changed."""
    current_id, keys = chain_keys()
    key = keys[current_id]
    now = now or timezone.now()
    heads = dict(heads)
    links = []
    for row in rows:
        position, previous = heads.get(row["contact_id"], (0, ""))
        position += 1
        mac = link_mac(key, canonical_event(row), position, previous)
        heads[row["contact_id"]] = (position, mac)
        links.append(
            {
                "event_id": row["id"],
                "contact_id": row["contact_id"],
                "position": position,
                "previous_mac": previous,
                "mac": mac,
                "key_id": current_id,
                "form": FORM,
                "created_at": now,
            }
        )
    return links


# --- Writing links -------------------------------------------------------------------------------


def link_event(event) -> None:
    """Link one event just saved, under its contact's row lock (``record_consent``)."""
    head = (
        ConsentChainLink.objects.filter(contact_id=event.contact_id)
        .order_by("-position")
        .values_list("position", "mac")
        .first()
    )
    heads = {event.contact_id: head} if head else {}
    (fields,) = chain_rows([event_row(event)], heads)
    ConsentChainLink(**fields).save()
    consent_events_recorded.send(sender=ConsentEvent, event_ids=[event.pk])


def link_events(event_ids: list[int]) -> int:
    """Link events a set-based writer has just inserted, under its locks on their contacts: one
    read of the events, one of their contacts' heads, then one insert of the links. Returns the
    links written."""
    if not event_ids:
        return 0
    rows = list(
        ConsentEvent.objects.filter(pk__in=event_ids).order_by("contact_id", "pk").values(*EVENT_FIELDS)
    )
    contact_ids = sorted({row["contact_id"] for row in rows})
    _insert_links(chain_rows(rows, chain_heads(ConsentChainLink, contact_ids)))
    consent_events_recorded.send(sender=ConsentEvent, event_ids=event_ids)
    return len(rows)


_LINK_COLUMNS = ("event_id", "contact_id", "position", "previous_mac", "mac", "key_id", "form", "created_at")


def _insert_links(links: list[dict]) -> None:
    """On PostgreSQL one COPY (no model instance per link: measured, the ORM's bulk insert took as
    long as computing the MACs); elsewhere a bulk insert."""
    if connection.vendor != "postgresql":
        ConsentChainLink.objects.bulk_create(
            [ConsentChainLink(**fields) for fields in links], batch_size=LINK_BATCH
        )
        return
    table = ConsentChainLink._meta.db_table
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({', '.join(_LINK_COLUMNS)}) FROM STDIN") as copy,
    ):
        for link in links:
            copy.write_row([link[column] for column in _LINK_COLUMNS])


def chain_heads(link_model, contact_ids: list[int]) -> dict[int, tuple[int, str]]:
    """Contact id → (position, MAC) of the last link of each of these contacts that has a chain."""
    later = link_model.objects.filter(contact_id=OuterRef("contact_id"), position=OuterRef("position") + 1)
    heads = (
        link_model.objects.filter(contact_id__in=contact_ids)
        .filter(~Exists(later))
        .order_by()
        .values_list("contact_id", "position", "mac")
    )
    return {contact_id: (position, mac) for contact_id, position, mac in heads}


# --- Anchors -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Anchor:
    """A digest over every chain's head as of ``through``, logged at ``at``."""

    digest: str
    at: datetime
    through: datetime
    chains: int
    links: int

    def __str__(self) -> str:
        return (
            f"consent chain anchor {self.digest} ({self.chains} chains, {self.links} events, "
            f"links up to {self.through.isoformat()}; logged {self.at.isoformat()})"
        )


def heads_digest(through: datetime) -> tuple[str, int, int]:
    """(SHA-256 over "contact:position:MAC" lines of each chain's head, ordered by contact; the
    number of chains; the number of links) counting only links created up to ``through``."""
    links = ConsentChainLink.objects.filter(created_at__lte=through)
    later = links.filter(contact_id=OuterRef("contact_id"), position=OuterRef("position") + 1)
    heads = (
        links.filter(~Exists(later))
        .order_by("contact_id")
        .values_list("contact_id", "position", "mac")
        .iterator(chunk_size=10_000)
    )
    digest, chains, total = hashlib.sha256(), 0, 0
    for contact_id, position, mac in heads:
        digest.update(f"{contact_id}:{position}:{mac}\n".encode())
        chains += 1
        total += position  # positions run 1…n, so the head's is the chain's length
    return digest.hexdigest(), chains, total


def anchor_heads(*, actor: Actor | None = None) -> Anchor:
    """Log an anchor over every chain's head (the daily schedule calls it; safe to run twice).

    The anchor is *sealed*: an HMAC under the chain key over its figures and the seal of the
    anchor before it. A plain digest could be recomputed by someone with only the database after
    deleting a STOP and its link, and logged as a newer anchor; a seal cannot, and a removed
    anchor breaks the next one's reference (:func:`anchor_problem`).
    """
    from contacts.services import log_activity  # services links events through this module

    current_id, keys = chain_keys()
    through = timezone.now() - ANCHOR_MARGIN
    digest, chains, links = heads_digest(through)
    with transaction.atomic():
        if connection.vendor == "postgresql":  # two runs at once would both follow the same anchor
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [ANCHOR_ACTION])
        previous = _anchor_entries().last()
        fields = {
            "digest": digest,
            "through": through.isoformat(),
            "chains": chains,
            "links": links,
            "previous_seal": (previous.details or {}).get("seal", "") if previous else "",
            "key_id": current_id,
        }
        entry = log_activity(
            actor=actor or Actor.system(SYSTEM_LABEL),
            action=ANCHOR_ACTION,
            details={**fields, "seal": _seal(keys[current_id], fields)},
        )
    return _anchor(entry)


def consent_chain_anchor() -> None:
    """Scheduled daily: the anchor of the day."""
    anchor_heads()


def _seal(key: bytes, fields: Mapping) -> str:
    message = json.dumps({name: fields.get(name) for name in SEALED_FIELDS}, sort_keys=True)
    return hmac.new(key, _SEAL_LABEL + message.encode(), hashlib.sha256).hexdigest()


def _sealed(entry, keys: Mapping[str, bytes]) -> bool:
    """Whether a logged anchor carries a seal made with one of the configured keys."""
    details = entry.details if isinstance(entry.details, dict) else {}
    key = keys.get(details.get("key_id"))
    seal = details.get("seal")
    return key is not None and isinstance(seal, str) and hmac.compare_digest(_seal(key, details), seal)


def _anchor_entries():
    return ActivityLogEntry.objects.filter(action=ANCHOR_ACTION).order_by("occurred_at", "id")


def _anchor(entry) -> Anchor:
    details = entry.details
    return Anchor(
        digest=details["digest"],
        at=entry.occurred_at,
        through=datetime.fromisoformat(details["through"]),
        chains=details["chains"],
        links=details["links"],
    )


def latest_anchor() -> Anchor | None:
    """The latest anchor whose seal holds, for exports to state which anchor covers them and for
    verification to check the heads against; None before the first. One logged behind the
    application's back is passed over (:func:`anchor_problem` names it)."""
    _, keys = chain_keys()
    for entry in _anchor_entries().reverse().iterator(chunk_size=50):
        if _sealed(entry, keys):
            return _anchor(entry)
    return None


def anchor_problem() -> str:
    """What is wrong with the anchors logged, the first thing found ('' when nothing): one whose
    seal does not hold (written without the key: forged, or its figures edited), or one that does
    not name the anchor before it (an anchor removed). A run of the daily schedule reads a few
    hundred small rows a year."""
    _, keys = chain_keys()
    previous_seal = ""
    for entry in _anchor_entries().iterator(chunk_size=500):
        when = f"the anchor logged at {entry.occurred_at.isoformat()} (activity log entry {entry.pk})"
        if not _sealed(entry, keys):
            return f"{when} is not sealed with a configured chain key: it was not written by the application"
        if entry.details.get("previous_seal") != previous_seal:
            return f"{when} does not follow the anchor logged before it: an anchor was removed"
        previous_seal = entry.details["seal"]
    return ""

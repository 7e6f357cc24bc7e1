"""Verifying the consent ledger's HMAC chains (docs/consent-chain.md, "Verification").

``verify_ledger`` recomputes every contact's chain in chunks of contacts and names the first event
that does not match; ``manage.py verify_ledger`` runs it and logs the result, which
``last_verification`` reads for the Auditor's page.
"""

from dataclasses import dataclass
from datetime import datetime

from contacts.ledger_chain import (
    EVENT_FIELDS,
    FORM,
    SYSTEM_LABEL,
    Anchor,
    anchor_problem,
    canonical_event,
    chain_keys,
    heads_digest,
    latest_anchor,
    link_mac,
)
from contacts.models import ActivityLogEntry, ConsentChainLink, ConsentEvent, Contact
from contacts.services import log_activity
from core.actors import Actor

# Contacts verified per chunk: a chunk of a few thousand events takes well under a second, far
# inside the task timeout, and the command can resume after the last contact a chunk finished.
VERIFY_CHUNK_CONTACTS = 2000
VERIFIED_ACTION = "consent_chain.verified"


class Reason:
    MAC_MISMATCH = "mac_mismatch"
    MISSING_LINK = "missing_link"
    MISSING_EVENT = "link_for_missing_event"
    ORDER = "order"
    UNKNOWN_KEY = "unknown_key"
    ANCHOR_MISMATCH = "anchor_mismatch"
    ANCHOR_FORGED = "anchor_forged"  # an anchor not sealed with the key, or one removed


@dataclass(frozen=True)
class Failure:
    """The first event that does not match, and why."""

    reason: str
    detail: str
    contact_id: int | None = None
    event_id: int | None = None

    def as_dict(self) -> dict:
        return {
            "reason": self.reason,
            "detail": self.detail,
            "contact_id": self.contact_id,
            "event_id": self.event_id,
        }


@dataclass(frozen=True)
class ChunkResult:
    last_contact_id: int | None  # where the next chunk starts; None: this was the last chunk
    contacts: int  # contacts with events or links in the chunk
    events: int
    failure: Failure | None


def verify_chunk(*, after_contact_id: int = 0, contacts: int = VERIFY_CHUNK_CONTACTS) -> ChunkResult:
    """Verify the chains of the next ``contacts`` contact ids after ``after_contact_id``.

    The chunk's range comes from the contacts' primary key (a limited index scan, however large
    the ledger); its events and links are read by contact id range, so events or links whose
    contact row is gone are still read. The last chunk is open-ended. Three reads per chunk.
    """
    ids = list(
        Contact.objects.filter(pk__gt=after_contact_id).order_by("pk").values_list("pk", flat=True)[:contacts]
    )
    last = ids[-1] if len(ids) == contacts else None
    in_range = {"contact_id__gt": after_contact_id}
    if last is not None:
        in_range["contact_id__lte"] = last
    events = ConsentEvent.objects.filter(**in_range).order_by("contact_id", "pk").values(*EVENT_FIELDS)
    links = (
        ConsentChainLink.objects.filter(**in_range)
        .order_by("contact_id", "position")
        .values("contact_id", "event_id", "position", "previous_mac", "mac", "key_id", "form")
    )
    by_contact: dict[int, tuple[list, list]] = {}
    for row in events:
        by_contact.setdefault(row["contact_id"], ([], []))[0].append(row)
    for link in links:
        by_contact.setdefault(link["contact_id"], ([], []))[1].append(link)
    count = 0
    for contact_id in sorted(by_contact):
        contact_events, contact_links = by_contact[contact_id]
        count += len(contact_events)
        failure = _verify_contact(contact_id, contact_events, contact_links)
        if failure is not None:
            return ChunkResult(last, len(by_contact), count, failure)
    return ChunkResult(last, len(by_contact), count, None)


def _verify_contact(contact_id: int, events: list[dict], links: list[dict]) -> Failure | None:
    """The first mismatch in one contact's chain, in chain order, or its first event without a
    link, whichever names the earlier event."""
    _, keys = chain_keys()
    by_id = {row["id"]: row for row in events}
    candidates = []
    previous = {"mac": "", "event_id": 0}
    for expected, link in enumerate(links, start=1):
        problem = _link_problem(link, expected, by_id.get(link["event_id"]), previous, keys)
        if problem is not None:
            candidates.append(Failure(*problem, contact_id, link["event_id"]))
            break
        previous = {"mac": link["mac"], "event_id": link["event_id"]}
    linked = {link["event_id"] for link in links}
    unlinked = [row["id"] for row in events if row["id"] not in linked]
    if unlinked:
        candidates.append(
            Failure(Reason.MISSING_LINK, f"event {unlinked[0]} has no link", contact_id, unlinked[0])
        )
    return min(candidates, key=lambda failure: failure.event_id) if candidates else None


def _link_problem(
    link: dict, expected: int, row: dict | None, previous: dict, keys
) -> tuple[str, str] | None:
    """(reason, detail) of what is wrong with the link at place ``expected``, or None."""
    event_id = link["event_id"]
    if link["position"] != expected:
        return Reason.ORDER, f"link {link['position']} is where link {expected} should be: a link is missing"
    if link["previous_mac"] != previous["mac"]:
        return Reason.ORDER, f"link {expected} does not follow link {expected - 1}"
    if row is None:
        return Reason.MISSING_EVENT, f"link {expected} names event {event_id}, not among the contact's events"
    if event_id <= previous["event_id"]:
        return (
            Reason.ORDER,
            f"link {expected} names event {event_id}, recorded before event {previous['event_id']}",
        )
    key = keys.get(link["key_id"])
    if key is None:
        return (
            Reason.UNKNOWN_KEY,
            f"link {expected} was made with key {link['key_id']}, which is not configured",
        )
    if link["form"] != FORM or link_mac(key, canonical_event(row), expected, previous["mac"]) != link["mac"]:
        return Reason.MAC_MISMATCH, f"event {event_id} is not the event link {expected} sealed"
    return None


@dataclass(frozen=True)
class Verification:
    ok: bool
    contacts: int
    events: int
    from_contact_id: int
    through_contact_id: int | None
    failure: Failure | None
    anchor: Anchor | None


def verify_ledger(
    *, after_contact_id: int = 0, chunk_contacts: int = VERIFY_CHUNK_CONTACTS, progress=None
) -> Verification:
    """Verify every chain after ``after_contact_id`` chunk by chunk, stopping at the first failure;
    from the start, also check that the latest anchor's heads are still there. ``progress`` is
    called with each chunk's result (the command prints where to resume)."""
    contacts = events = 0
    through = None
    cursor = after_contact_id
    while True:
        result = verify_chunk(after_contact_id=cursor, contacts=chunk_contacts)
        if progress is not None:
            progress(result)
        contacts += result.contacts
        events += result.events
        if result.failure is not None:
            return Verification(False, contacts, events, after_contact_id, through, result.failure, None)
        if result.last_contact_id is None:
            break
        through = cursor = result.last_contact_id
    return conclude(
        from_contact_id=after_contact_id, through_contact_id=through, contacts=contacts, events=events
    )


def conclude(
    *, from_contact_id: int, through_contact_id: int | None, contacts: int, events: int
) -> Verification:
    """The result of a run whose chunks all verified: from the start, also check that the latest
    anchor's heads are still there (a resumed run cannot: the anchor covers every chain), and
    that every anchor logged holds its seal and follows the one before (``anchor_problem``).

    Shared by ``verify_ledger`` and the scheduled run (``contacts.tasks_ledger``), whose chunks are
    separate tasks, so both record the same kind of result.
    """
    anchor = latest_anchor() if from_contact_id == 0 else None
    problem = anchor_problem() if from_contact_id == 0 else ""
    if problem:
        failure = Failure(Reason.ANCHOR_FORGED, problem)
        return Verification(False, contacts, events, from_contact_id, through_contact_id, failure, anchor)
    if anchor is not None:
        digest, chains, links = heads_digest(anchor.through)
        if digest != anchor.digest:
            failure = Failure(
                Reason.ANCHOR_MISMATCH,
                f"the chains' heads as of {anchor.through.isoformat()} are not the ones the anchor of "
                f"{anchor.at.isoformat()} recorded ({chains} chains and {links} events now, "
                f"{anchor.chains} and {anchor.links} then): links were removed or rewritten",
            )
            return Verification(False, contacts, events, from_contact_id, through_contact_id, failure, anchor)
    return Verification(True, contacts, events, from_contact_id, through_contact_id, None, anchor)


def record_verification(verification: Verification, *, started_at: datetime, actor: Actor | None = None):
    """Log a verification's result, for the Auditor's page (``last_verification``)."""
    return log_activity(
        actor=actor or Actor.system(SYSTEM_LABEL),
        action=VERIFIED_ACTION,
        details={
            "ok": verification.ok,
            "started_at": started_at.isoformat(),
            "from_contact_id": verification.from_contact_id,
            "through_contact_id": verification.through_contact_id,
            "contacts": verification.contacts,
            "events": verification.events,
            "failure": verification.failure.as_dict() if verification.failure else None,
            "anchor": verification.anchor.digest if verification.anchor else None,
        },
    )


@dataclass(frozen=True)
class LastVerification:
    at: datetime
    ok: bool
    complete: bool  # from the first contact: a resumed run checked only part of the ledger
    contacts: int
    events: int
    failure: dict | None


def last_verification() -> LastVerification | None:
    """The latest ``verify_ledger`` result logged, or None if the ledger was never verified."""
    entry = ActivityLogEntry.objects.filter(action=VERIFIED_ACTION).order_by("-occurred_at", "-id").first()
    if entry is None:
        return None
    details = entry.details
    return LastVerification(
        at=entry.occurred_at,
        ok=details["ok"],
        complete=details["from_contact_id"] == 0,
        contacts=details["contacts"],
        events=details["events"],
        failure=details["failure"],
    )

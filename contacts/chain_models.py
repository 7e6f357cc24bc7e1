"""The consent ledger's tamper evidence: one chain link per consent event (docs/consent-chain.md).

The triggers stop the application from rewriting the ledger, but a database superuser can switch
them off. Each link holds an HMAC over its event's canonical content and the previous link of the
same contact's chain, under a key that lives in the environment, not in the database: whoever can
edit the rows cannot compute a matching link. ``contacts.ledger_chain`` writes and verifies them.
"""

from django.db import models
from django.utils import timezone

from core.models import AppendOnlyModel


class ConsentChainLink(AppendOnlyModel):
    """The link of one consent event in its contact's chain. Written in the event's transaction,
    under the contact's row lock, and never changed."""

    event = models.OneToOneField(
        "contacts.ConsentEvent", on_delete=models.PROTECT, related_name="chain_link", editable=False
    )
    # Looked up through the (contact, position) constraint's index; no index of its own.
    contact = models.ForeignKey(
        "contacts.Contact", on_delete=models.PROTECT, related_name="+", editable=False, db_index=False
    )
    # 1, 2, 3… in the contact's chain; unique with the contact, so two writers that somehow read
    # the same head cannot fork the chain: the second insert fails instead.
    position = models.PositiveIntegerField(editable=False)
    previous_mac = models.CharField(max_length=64, blank=True, editable=False)
    mac = models.CharField("MAC", max_length=64, editable=False)
    # Which key made the MAC (a fingerprint of it, not the key): a rotated key's links still verify.
    key_id = models.CharField("key id", max_length=16, editable=False)
    # The version of the canonical form the MAC covers; a new form is a new version, never an edit.
    form = models.PositiveSmallIntegerField(editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = "consent chain link"
        ordering = ["contact_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["contact", "position"], name="consent_chain_position_unique"),
        ]

    def __str__(self) -> str:
        return f"Contact {self.contact_id} · link {self.position} · event {self.event_id}"

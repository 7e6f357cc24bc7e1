"""Signals other apps answer when contacts change in ways they must follow.

``contacts`` may not import the apps above it (``messaging`` keeps messages of a contact), so a
merge announces itself and each app moves its own rows. Receivers run inside the merge's
transaction: one that fails rolls the whole merge back, so nothing is half-applied.
"""

from django.dispatch import Signal

# Sent inside ``contacts.merging.contact_merge``'s transaction, after both rows are locked, with
# ``survivor``, ``merged`` (the rows as locked) and ``actor``. A receiver re-points its own rows
# from ``merged`` to ``survivor`` and returns what it moved as ``{"label": count}`` for the
# activity log.
contact_merged = Signal()

# Sent by ``contacts.merging.contact_merge_preview`` with ``survivor`` and ``merged``. A receiver
# writes nothing and returns what a merge would move, ``{"label": count}``, for the confirmation page.
contact_merge_previewed = Signal()

# Sent inside the transaction of every writer of the consent ledger (``record_consent``, a bulk
# opt-out, an import's chunk), once its events are linked into their chains, with ``event_ids``.
# A receiver that writes (the REST API's callback outbox) commits or rolls back with the events.
consent_events_recorded = Signal()

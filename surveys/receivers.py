"""What surveys do when a person writes, opts out, or turns out to be someone else too.

Connected in ``SurveysConfig.ready``. The inbound receiver runs inside the transaction that stores
the person's message (``messaging.signals.inbound_message_received``), before the webhook opens
their window and acts on consent keywords: it runs in a savepoint of its own and never raises, so
a survey's trouble can never cost the message itself (or the STOP beside it) — the error is logged.
"""

from __future__ import annotations

import logging

from django.db import transaction

from messaging.models import InboundMessage
from surveys.appointments import tag_from_press
from surveys.services import answer_record, runs_abandon_after_opt_out, start_from_press

logger = logging.getLogger(__name__)


def on_inbound(sender, *, inbound: InboundMessage, **kwargs) -> None:
    """An answer moves its survey on; a template button press may start a survey and add tags."""
    if inbound.type not in ("interactive", "button"):
        return
    try:
        with transaction.atomic():
            if inbound.type == "interactive":
                answer_record(inbound=inbound)
            else:
                tag_from_press(inbound=inbound)
                start_from_press(inbound=inbound)
    except Exception:
        logger.exception("surveys: inbound message %s not handled", inbound.pk)


def on_consent_events(sender, *, event_ids, **kwargs) -> None:
    """An opt-out ends the person's running survey, in the ledger writer's transaction — in a
    savepoint that never raises: the opt-out must stick whatever happens to a survey."""
    try:
        with transaction.atomic():
            runs_abandon_after_opt_out(event_ids=list(event_ids))
    except Exception:
        logger.exception(
            "surveys: running surveys not abandoned after consent events %s", list(event_ids)[:20]
        )

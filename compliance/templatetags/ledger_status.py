"""``{% ledger_status %}``: when the consent ledger was last verified and its latest anchor.

Shown on the compliance export pages and the compliance section of the admin, to whoever may
export the consent audit (Auditors): a ledger that no longer verifies, or has not been verified
for days, is what they must see before they hand an export to anyone (docs/consent-chain.md).
"""

from datetime import timedelta

from django import template
from django.utils import timezone

from compliance.models import EXPORT_PERMISSION
from contacts.ledger_chain import latest_anchor
from contacts.ledger_verify import last_verification

register = template.Library()

# The verification runs daily; a result older than this means the schedule stopped running.
OVERDUE_AFTER = timedelta(days=2)
# Enough of the anchor's hex digest to compare with a copy kept outside the database by eye.
DIGEST_SHOWN = 16


@register.inclusion_tag("admin/compliance/ledger_status.html", takes_context=True)
def ledger_status(context):
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_active or not user.has_perm(EXPORT_PERMISSION):
        return {"shown": False}
    verification = last_verification()
    anchor = latest_anchor()
    return {
        "shown": True,
        "verification": verification,
        "overdue": verification is not None and verification.at < timezone.now() - OVERDUE_AFTER,
        "anchor": anchor,
        "anchor_digest": anchor.digest[:DIGEST_SHOWN] if anchor else "",
    }

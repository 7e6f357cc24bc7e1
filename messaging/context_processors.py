"""Template context every admin page needs from messaging."""

from messaging.campaigns.notices import campaign_notices
from messaging.sending.halt import REASON_MAX_LENGTH, active_halt


def sending_halt(request):
    """The active sending halt for the banner on every admin page, and the limit of the banner's
    form that starts one. Read from the shared cache, which starting and clearing keep current."""
    if (
        not request.path.startswith("/admin/")
        or not getattr(request, "user", None)
        or not request.user.is_staff
    ):
        return {}
    return {"sending_halt": active_halt(), "halt_reason_max_length": REASON_MAX_LENGTH}


def campaign_self_pauses(request):
    """The campaigns that paused themselves (WhatsApp paused their template, or their circuit breaker
    tripped) which the user wrote or approved, for the banner on every admin page until they dismiss
    it or the campaign leaves ``paused`` (``messaging.campaigns.notices``): one query per page."""
    user = getattr(request, "user", None)
    if not request.path.startswith("/admin/") or not user or not user.is_staff:
        return {}
    return {"campaign_self_pauses": campaign_notices(user)}

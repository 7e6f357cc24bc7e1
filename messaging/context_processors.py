"""Template context every admin page needs from messaging."""

from messaging.sending.halt import active_halt


def sending_halt(request):
    """The active sending halt (cached a few seconds), for the banner on every admin page."""
    if (
        not request.path.startswith("/admin/")
        or not getattr(request, "user", None)
        or not request.user.is_staff
    ):
        return {}
    return {"sending_halt": active_halt()}

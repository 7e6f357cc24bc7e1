"""Template context every admin page needs from messaging."""

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

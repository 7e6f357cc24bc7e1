"""Admin homes for the per-person and per-message reports: proxies, no tables.

Like ``ConsentAuditExport`` (``compliance.models``), each proxy only gives the admin a page to
list and a URL prefix; who may open them is the export permission (``EXPORT_PERMISSION``), so
the proxies have no permissions of their own.
"""

from contacts.models import Contact
from messaging.models import OutboundMessage


class DataSubjectReport(Contact):
    class Meta:
        proxy = True
        default_permissions = ()
        verbose_name = "data-subject report"
        verbose_name_plural = "data-subject reports"


def _named_without_recipient(message: OutboundMessage) -> str:
    """``OutboundMessage``'s own text names the contact, which falls back to the phone number; the
    proxies' read-only pages print it in the title and the breadcrumb."""
    return f"{message.get_kind_display()} message #{message.pk} ({message.get_status_display()})"


class ConsentProof(OutboundMessage):
    class Meta:
        proxy = True
        default_permissions = ()
        verbose_name = "proof of consent"
        verbose_name_plural = "proof of consent"

    def __str__(self) -> str:
        return _named_without_recipient(self)


class BackdatedOptOutReport(OutboundMessage):
    class Meta:
        proxy = True
        default_permissions = ()
        verbose_name = "message sent after a back-dated opt-out"
        verbose_name_plural = "messages sent after a back-dated opt-out"

    def __str__(self) -> str:
        return _named_without_recipient(self)

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


class ConsentProof(OutboundMessage):
    class Meta:
        proxy = True
        default_permissions = ()
        verbose_name = "proof of consent"
        verbose_name_plural = "proof of consent"


class BackdatedOptOutReport(OutboundMessage):
    class Meta:
        proxy = True
        default_permissions = ()
        verbose_name = "message sent after a back-dated opt-out"
        verbose_name_plural = "messages sent after a back-dated opt-out"

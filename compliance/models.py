"""The compliance reports' permissions, hung on a proxy of the consent ledger.

The reports add no tables: they read the ledger, the contacts and the message log. A proxy model
gives the admin a page to list (the consent audit export) and gives Django permissions a home, so
the roles migration can grant them like any other. The proxy's default add/change/delete/view
permissions are switched off: nothing here may change the ledger, and "view" would say nothing
the ledger's own view permission does not.
"""

from contacts.models import ConsentEvent

# Who may download the consent audit export (and run the other compliance reports' pages).
EXPORT_PERMISSION = "compliance.export_consent_audit"
# Who may see phone numbers, IP addresses and user agents in a compliance export unmasked.
PERSONAL_DATA_PERMISSION = "compliance.view_personal_data"


class ConsentAuditExport(ConsentEvent):
    def __str__(self) -> str:
        """Names the contact by id, not by ``str(contact)``, which is the phone for a nameless
        contact: the event's page (its title, its breadcrumb) may be read without the right to see it."""
        return f"{self.get_action_display()} {self.get_purpose_display()} · contact #{self.contact_id}"

    class Meta:
        proxy = True
        default_permissions = ()
        verbose_name = "consent audit export"
        verbose_name_plural = "consent audit export"
        permissions = [
            ("export_consent_audit", "Can export the consent audit reports"),
            (
                "view_personal_data",
                "Can see phone numbers, IP addresses and user agents in compliance exports",
            ),
        ]


# The per-person and per-message reports' admin homes (proxies); importing registers them here.
from compliance.subject_models import BackdatedOptOutReport, ConsentProof, DataSubjectReport  # noqa: E402,F401

from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "compliance"
    verbose_name = "Compliance reports"

    def ready(self):
        # The per-person and per-message reports register their admin pages (admin_subject,
        # admin_proof) here, beside whatever compliance.admin registers.
        from compliance import admin_proof, admin_subject  # noqa: F401

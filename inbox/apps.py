from django.apps import AppConfig


class InboxConfig(AppConfig):
    name = "inbox"
    verbose_name = "Support inbox"

    def ready(self):
        from contacts.signals import contact_merged
        from inbox import receivers  # noqa: F401  (conversations follow inbound messages)
        from inbox.merging import fold_conversations

        contact_merged.connect(fold_conversations, dispatch_uid="inbox.fold_conversations")

from django.apps import AppConfig


class InboxConfig(AppConfig):
    name = "inbox"
    verbose_name = "Support inbox"

    def ready(self):
        from inbox import receivers  # noqa: F401  (conversations follow inbound messages)

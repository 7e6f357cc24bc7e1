from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The bottom of the import order: the error type, actors, append-only rows, roles."""

    name = "core"
    verbose_name = "Core"

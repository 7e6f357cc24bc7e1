from django.apps import AppConfig


class CloudApiConfig(AppConfig):
    """Meta's WhatsApp Cloud API: the client every sender uses and the local sandbox that stands in
    for Meta. No models, so every app above it may import it (see docs/architecture.md)."""

    name = "cloud_api"
    verbose_name = "WhatsApp Cloud API"

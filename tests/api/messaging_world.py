"""The messaging tests' world (approved demo templates, a customer with consent, a stranger without),
offered to the API's tests as a plugin: ``pytest_plugins = ["tests.api.messaging_world"]``."""

from tests.messaging.conftest import customer, demo_templates, order_update, promotion, stranger

__all__ = ["customer", "demo_templates", "order_update", "promotion", "stranger"]

"""The review tests reuse the messaging world (approved templates, contacts with consent)."""

from tests.messaging.conftest import customer, demo_templates, order_update, promotion, stranger  # noqa: F401

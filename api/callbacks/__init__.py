"""Callbacks: outbound webhooks to the systems that hold API keys (docs/api-callbacks.md)."""

"""A local stand-in for Meta's Cloud API over real HTTP, with signed webhooks.

Run by ``manage.py whatsapp_sandbox``.

Tests start it in a thread with :class:`cloud_api.sandbox.server.BackgroundSandbox`; the demo runs
the management command. ``docs/sandbox.md`` describes what it simulates and every knob.
"""

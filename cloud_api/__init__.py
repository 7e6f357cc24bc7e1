"""The WhatsApp Cloud API client: the only package that speaks to Meta (or to the sandbox).

- :mod:`.payloads` builds message bodies; :func:`.backends.get_backend` sends them.
- :mod:`.outcomes` says what happened: ``Accepted``, ``Refused``, ``NotSent``, ``OutcomeUnknown``.
- :mod:`.errors` classifies Meta's codes (:func:`.errors.classify`).
- :mod:`.signatures` signs and verifies webhook bodies.
"""

"""The one error type services raise when they refuse an operation.

It sits at the bottom of the import order so every app may raise it without a cycle. The admin
shows ``message``; the REST API maps ``code`` (stable, machine-readable) and ``field`` (where the
problem is) to one JSON shape.
"""


class ApplicationError(Exception):
    def __init__(self, message: str, *, code: str, field: str | None = None, details: dict | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field
        self.details = details or {}

    def __str__(self) -> str:
        return self.message

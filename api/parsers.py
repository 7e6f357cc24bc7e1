"""The API's JSON parser: every body it cannot read becomes a 400 ``malformed_request``.

DRF's ``JSONParser`` turns a ``ValueError`` into a ``ParseError`` but lets a ``RecursionError``
through, so a body of a few thousand nested brackets answered 500. Here both are the client's error.
"""

from __future__ import annotations

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class SafeJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
        except (UnicodeError, ValueError) as error:
            raise ParseError(f"JSON parse error - {error}") from None

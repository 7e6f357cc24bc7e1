"""Cursor pages for the API's lists: newest first by id, 50 a page (``page_size`` up to 200).

A cursor, not page numbers: an item added while a client pages never shifts one into a page it
already read. A cursor the API did not give is the request's fault, so 400 naming ``cursor``
(DRF answers 404, as if the list were missing).
"""

from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination

from api.errors import ApiError


class NewestFirst(CursorPagination):
    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise ApiError(
                "cursor: not a cursor this API gave; follow the `next` or `previous` link.",
                code="invalid",
                status_code=status.HTTP_400_BAD_REQUEST,
                field="cursor",
            ) from None

from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination, PageNumberPagination

from accounts.rules import ODS_CODE_RE

BIGGEST_ID = 2**63 - 1


class AsOfEnvelope:
    """A list's pages with the as-of date of the last check beside them: first in the
    envelope, null before the first check."""

    def paginate_queryset(self, queryset, request, view=None):
        self.as_of = view.last_check_as_of
        return super().paginate_queryset(queryset, request, view)

    def get_paginated_response(self, data):
        response = super().get_paginated_response(data)
        response.data = {"as_of": self.as_of.isoformat() if self.as_of else None, **response.data}
        return response

    def get_paginated_response_schema(self, schema):
        paged = super().get_paginated_response_schema(schema)
        paged["properties"] = {
            "as_of": {
                "type": "string",
                "format": "date",
                "nullable": True,
                "description": "The as-of date of the last check; null before the first.",
            },
            **paged["properties"],
        }
        paged["required"] = list(paged["properties"])  # every page carries each of them
        return paged


class AsOfCursorPagination(AsOfEnvelope, CursorPagination):
    """Cursor pages on a unique indexed key, so page 10,000 costs what page 1 does, with the
    as-of date of the last check beside them."""

    ordering = "id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
    invalid_cursor_message = "No such page: the cursor is not one this API gave out."

    def decode_cursor(self, request):
        """A cursor's position goes into a query: one that is not a key this ordering could
        have given out is refused like any other bad cursor (404), never a 500."""
        cursor = super().decode_cursor(request)
        position = None if cursor is None else cursor.position
        if position is not None and not self.valid_position(position):
            raise NotFound(self.invalid_cursor_message)
        return cursor

    @staticmethod
    def valid_position(position: str) -> bool:
        return position.isascii() and position.isdigit() and int(position) <= BIGGEST_ID


class ByOdsCode(AsOfCursorPagination):
    ordering = "ods_code"

    @staticmethod
    def valid_position(position: str) -> bool:
        return bool(ODS_CODE_RE.match(position))


class NewestFirst(AsOfCursorPagination):
    ordering = "-id"


class WorklistPages(AsOfEnvelope, PageNumberPagination):
    """Numbered pages for the worklist (its order, most pressing first, is no unique key),
    with the as-of date of the last check beside them."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000

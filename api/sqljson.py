"""A list's rows written as JSON text by PostgreSQL. A page of 1,000 accounts is then 1,000
strings from one column, where the serializer's path builds 2,000 model instances and 1,000
dicts, walks them field by field and leaves them to the garbage collector, whose full
collections a few requests later were the page's slowest answers (README, "Pages at scale").

The text is byte for byte what the list's serializer and the JSON renderer write for the
same rows (tests/test_api.py pins it): keys in the serializer's order, no spaces, null for
NULL, dates as ISO 8601 (PostgreSQL's to_json writes them so whatever its DateStyle), and
strings escaped as Python's json module escapes them with ensure_ascii off. Other databases,
and the CSV format, take the serializer's path."""

import json

from django.db import connection
from django.db.models import Func, IntegerField, TextField


def available() -> bool:
    return connection.vendor == "postgresql"


class RawJSON(str):
    """JSON text already written, which renderers.JSONRenderer puts in as it is."""


class JSONObject(Func):
    """{"name":value,...} as text, in the order the fields are given (PostgreSQL's
    json_build_object puts spaces around each colon, its jsonb a key order of its own)."""

    output_field = TextField()

    def __init__(self, **fields):
        self.names = list(fields)
        super().__init__(*fields.values())

    def as_sql(self, compiler, connection, **extra_context):
        parts, params = [], []
        fields = zip(self.names, self.get_source_expressions(), strict=True)
        for n, (name, field) in enumerate(fields):
            field_sql, field_params = compiler.compile(field)
            parts.append(f"%s || COALESCE(to_json({field_sql})::text, 'null')")
            params += [("{" if n == 0 else ",") + json.dumps(name) + ":", *field_params]
        return "(" + " || ".join(parts) + " || '}')", params

    def as_sqlite(self, compiler, connection, **extra_context):
        raise NotImplementedError("Rows are written as JSON by PostgreSQL only: see available().")


class DaysBetween(Func):
    """later - earlier, in days: PostgreSQL subtracts two dates to a number of days."""

    arg_joiner = " - "
    template = "(%(expressions)s)"
    output_field = IntegerField()

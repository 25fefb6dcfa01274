"""Loading many rows fast: COPY on PostgreSQL, executemany elsewhere. Rows are written in
chunks so memory stays flat whatever the size of the input."""

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from itertools import islice

from django.db import connection

CHUNK = 5_000


def chunks(rows: Iterable, size: int = CHUNK) -> Iterator[list]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _adapt(value):
    """SQLite stores datetimes as Django does: UTC text."""
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def load(table: str, columns: list[str], rows: Iterable[tuple]) -> int:
    """Append rows to a table; returns how many."""
    total = 0
    with connection.cursor() as cursor:
        for chunk in chunks(rows):
            total += len(chunk)
            if connection.vendor == "postgresql":
                # CSV COPY: None is written unquoted-empty, which COPY reads as NULL. Empty
                # strings never reach here (readers turn blanks into None).
                buffer = io.StringIO()
                csv.writer(buffer, lineterminator="\n").writerows(chunk)
                buffer.seek(0)
                with connection.wrap_database_errors:  # the driver's own cursor raises its own
                    cursor.cursor.copy_expert(
                        f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)", buffer
                    )
            else:
                marks = ", ".join(["%s"] * len(columns))
                cursor.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",
                    [tuple(_adapt(v) for v in row) for row in chunk],
                )
    return total

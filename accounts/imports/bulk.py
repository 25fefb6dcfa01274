"""Loading many rows fast: COPY on PostgreSQL, executemany elsewhere. Rows are written in
chunks so memory stays flat whatever the size of the input. stream() makes one COPY of a
generator: the database parses and stores rows while Python makes the next ones (the
machine's second core), instead of each waiting for the other chunk by chunk."""

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from itertools import islice

from django.db import connection

CHUNK = 5_000

# COPY's line ends. With "\n" Python's csv writer leaves a cell holding a bare "\r"
# unquoted, and COPY reads that "\r" as the end of the row; with "\r\n" every cell holding
# either is quoted (and COPY takes "\r\n" line ends).
LINE_END = "\r\n"


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
                csv.writer(buffer, lineterminator=LINE_END).writerows(chunk)
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


STREAM_CHARS = 256 * 1024


class _Streamed:
    """Rows as CSV text, read by psycopg2 as it sends them. An exception from the rows ends
    the COPY there (psycopg2 would replace it with its own) and is raised again after it."""

    def __init__(self, rows: Iterable[tuple]):
        self.rows = iter(rows)
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, lineterminator=LINE_END)
        self.count = 0
        self.error: Exception | None = None

    def read(self, size: int = -1) -> str:
        if self.error is not None:
            return ""
        try:
            while self.buffer.tell() < max(size, 1):
                chunk = list(islice(self.rows, 1000))
                if not chunk:
                    break
                self.count += len(chunk)
                self.writer.writerows(chunk)
        except Exception as exc:  # noqa: BLE001 - raised again by stream()
            self.error = exc
            return ""
        text = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        return text


def stream(table: str, columns: list[str], rows: Iterable[tuple]) -> int:
    """load(), as one COPY fed while the rows are made (PostgreSQL); returns how many."""
    if connection.vendor != "postgresql":
        return load(table, columns, rows)
    source = _Streamed(rows)
    with connection.cursor() as cursor, connection.wrap_database_errors:
        cursor.cursor.copy_expert(
            f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)",
            source,
            size=STREAM_CHARS,
        )
    if source.error is not None:
        raise source.error
    return source.count


def copy_file(table: str, columns: list[str], handle) -> None:
    """COPY a CSV text file (PostgreSQL)."""
    with connection.cursor() as cursor, connection.wrap_database_errors:
        cursor.cursor.copy_expert(
            f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)",
            handle,
            size=STREAM_CHARS,
        )

"""Reading the CSV files people really have: UTF-8 with or without BOM or Windows-1252
(Excel's re-save), headers in any case and spacing with common aliases, and dates in the
forms the contract lists. MM/DD/YYYY is never guessed."""

import codecs
import csv
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from ..rules import LONDON

READ_BYTES = 1024 * 1024


class FileRefused(Exception):
    """The whole file cannot be read: the message says why."""


def header_key(name: str) -> str:
    """Case-, space-, underscore- and hyphen-insensitive form of a column name."""
    return re.sub(r"[\s_\-]+", "", (name or "").strip().lstrip("\ufeff").lower())


def clipped(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def shown(text: str, limit: int = 60) -> str:
    """A cell as an error message echoes it: trimmed, quoted and cut short, so that a 130 KB
    cell makes a one-line message, not a 14 MB page."""
    return repr(clipped(text.strip(), limit))


@dataclass(frozen=True)
class FileFacts:
    size: int
    sha256: str
    encoding: str
    container: str = "csv"
    sheet: str = ""


def check_size(size: int, max_bytes: int) -> None:
    """Refused before reading when too large."""
    if size > max_bytes:
        raise FileRefused(
            f"the file is {size / 1_048_576:,.0f} MB; the most an import takes is "
            f"{max_bytes / 1_048_576:,.0f} MB. Split it into smaller files."
        )
    if size == 0:
        raise FileRefused("the file is empty")


def inspect(path: Path, max_bytes: int) -> FileFacts:
    """Size, checksum and encoding of a text file, in one pass. A NUL byte anywhere means
    binary data (no CSV holds one), and the database could not store it."""
    size = path.stat().st_size
    check_size(size, max_bytes)
    digest = hashlib.sha256()
    decoders = {name: codecs.getincrementaldecoder(name)() for name in ("utf-8-sig", "cp1252")}
    offset = 0
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(READ_BYTES)
            if (nul := chunk.find(b"\x00")) >= 0:
                raise FileRefused(
                    f"this is not a text file: it holds binary data (byte {offset + nul + 1:,}). "
                    "Export the report as CSV or .xlsx"
                )
            offset += len(chunk)
            digest.update(chunk)
            for name, decoder in list(decoders.items()):
                try:
                    decoder.decode(chunk, final=not chunk)
                except UnicodeDecodeError:
                    del decoders[name]
            if not chunk:
                break
    if not decoders:
        raise FileRefused("the file is neither UTF-8 nor Windows-1252 text; save it as CSV UTF-8")
    encoding = next(iter(decoders))
    return FileFacts(size=size, sha256=digest.hexdigest(), encoding=encoding)


def rows(path: Path, encoding: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) for each record; the header is line 1. Records that span lines
    (quoted newlines) are numbered by the line they start on."""
    with path.open("r", encoding=encoding, errors="strict", newline="") as handle:
        reader = csv.reader(handle)
        start = 1
        for fields in reader:
            yield start, fields
            start = reader.line_num + 1


# Dates --------------------------------------------------------------------------------

_DMY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")


def parse_moment(text: str) -> tuple[datetime | None, date | None]:
    """An aware datetime and its London date, from the forms the contract accepts.
    A bare date is taken as midnight London time. Raises ValueError with the reason."""
    text = text.strip()
    if not text:
        return None, None
    match = _DMY.match(text)
    if match:
        day, month, year, hour, minute, second = match.groups()
        if int(month) > 12:
            raise ValueError(
                f"{shown(text)} is not a valid date: dates are DD/MM/YYYY (day first); "
                "month-first dates are not accepted"
            )
        try:
            moment = datetime(
                int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0)
            )
        except ValueError as exc:
            raise ValueError(f"{shown(text)} is not a valid date ({exc})") from None
    else:
        try:
            moment = datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError:
            raise ValueError(
                f"{shown(text)} is not a date: use YYYY-MM-DD, DD/MM/YYYY, DD/MM/YYYY HH:MM "
                "or an ISO 8601 date-time"
            ) from None
    try:  # an offset can take the first or last day of year 1 or 9999 past the calendar
        moment = (
            moment.replace(tzinfo=LONDON) if moment.tzinfo is None else moment.astimezone(LONDON)
        )
    except OverflowError:
        raise ValueError(f"{shown(text)} is not a valid date (out of range)") from None
    return moment, moment.date()


def parse_date(text: str) -> date | None:
    return parse_moment(text)[1]

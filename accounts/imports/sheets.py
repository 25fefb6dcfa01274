"""The files an import takes: CSV text (see csvfiles.py) or an Excel workbook (.xlsx, its
first sheet). Both give the engine the same thing: (line, fields) with text fields, where
a workbook's line is the sheet's row number. Anything else is refused with a reason."""

import hashlib
import zipfile
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path

from django.conf import settings

from . import csvfiles
from .csvfiles import FileFacts, FileRefused

CSV, XLSX = "csv", "xlsx"
CONTAINER_NAMES = {CSV: "CSV", XLSX: "Excel workbook"}
OLD_EXCEL = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # OLE2: .xls, and password-protected workbooks
ZIP = b"PK\x03\x04"


def inspect(path: Path, max_bytes: int) -> FileFacts:
    """Size, checksum and what kind of file this is; refuses what cannot be imported."""
    size = path.stat().st_size
    csvfiles.check_size(size, max_bytes)
    with path.open("rb") as handle:
        head = handle.read(8)
    if head.startswith(OLD_EXCEL):
        raise FileRefused(
            "this is an old Excel .xls file (or a workbook with a password): save it as "
            ".xlsx or CSV, without a password"
        )
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FileRefused(
            'this is a UTF-16 text file (Excel\'s "Unicode Text"): save it as CSV UTF-8 or .xlsx'
        )
    if head.startswith(b"%PDF"):
        raise FileRefused("this is a PDF: import the report as CSV or .xlsx instead")
    if head.startswith(ZIP):
        return _inspect_workbook(path, size, max_bytes)
    return csvfiles.inspect(path, max_bytes)


def _inspect_workbook(path: Path, size: int, max_bytes: int) -> FileFacts:
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            names = [info.filename for info in infos]
            # Sizes from the directory first: nothing is inflated before they are judged.
            unpacked = sum(info.file_size for info in infos)
            strings = sum(i.file_size for i in infos if i.filename == "xl/sharedStrings.xml")
            mimetype = b""
            if "mimetype" in names and unpacked <= max_bytes:
                with archive.open("mimetype") as member:
                    mimetype = member.read(100)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise FileRefused(
            "this is a damaged zip file or workbook: save it again as .xlsx or CSV"
        ) from None
    if b"opendocument.spreadsheet" in mimetype:
        raise FileRefused("this is an OpenDocument (.ods) spreadsheet: save it as .xlsx or CSV")
    if "[Content_Types].xml" not in names or not any(n.startswith("xl/") for n in names):
        raise FileRefused(
            "this is a zip file, not a report: unzip it and import the CSV or .xlsx file inside"
        )
    # A small workbook can unpack to gigabytes; the sizes its directory declares bound it.
    if unpacked > max_bytes:
        raise FileRefused(
            f"this workbook unpacks to {unpacked / 1_048_576:,.0f} MB; the most an import "
            f"takes is {max_bytes / 1_048_576:,.0f} MB. Split it into smaller files."
        )
    # openpyxl holds a workbook's whole table of shared strings in memory, even streaming.
    if strings > settings.IMPORT_MAX_SHARED_STRINGS_BYTES:
        raise FileRefused(
            f"this workbook holds {strings / 1_048_576:,.0f} MB of text; the most a workbook "
            f"import takes is {settings.IMPORT_MAX_SHARED_STRINGS_BYTES / 1_048_576:,.0f} MB. "
            "Save it as CSV instead."
        )
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(csvfiles.READ_BYTES):
            digest.update(chunk)
    with _FirstSheet(path) as (_, sheet):
        name = sheet.title
    return FileFacts(size=size, sha256=digest.hexdigest(), encoding="", container=XLSX, sheet=name)


class _FirstSheet:
    """The workbook's first worksheet, opened read-only (streamed), closed on exit."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        from openpyxl import load_workbook  # only imports of workbooks pay for loading it

        # A file object, not a path: openpyxl judges a path by its extension, and uploads
        # are stored under names of our own.
        self.handle = self.path.open("rb")
        try:
            self.book = load_workbook(self.handle, read_only=True, data_only=True)
            if not self.book.worksheets:
                raise FileRefused("the workbook has no worksheet")
        except FileRefused:
            self.handle.close()
            raise
        except Exception as exc:  # openpyxl raises many kinds on a damaged workbook
            self.handle.close()
            raise FileRefused(
                f"this Excel workbook cannot be read ({type(exc).__name__}): open it in Excel "
                "and save it again as .xlsx or CSV"
            ) from None
        sheet = self.book.worksheets[0]
        sheet.reset_dimensions()  # some writers record wrong dimensions: read every row
        return self.book, sheet

    def __exit__(self, *exc_info):
        self.book.close()
        self.handle.close()


def container_of(path: Path) -> str:
    """Which reader a file that inspect() accepted needs (from its first bytes)."""
    with path.open("rb") as handle:
        return XLSX if handle.read(4) == ZIP else CSV


def rows(path: Path, container: str, encoding: str) -> Iterator[tuple[int, list[str]]]:
    """(line, fields) of a file that inspect() accepted."""
    if container == XLSX:
        return workbook_rows(path)
    return csvfiles.rows(path, encoding)


def workbook_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """The first sheet's rows as text, numbered as Excel numbers them. Leading empty rows
    are skipped, so the header is the first row with anything in it; every row is as wide
    as the header (empty cells at the end of a row are not stored in a workbook)."""
    with _FirstSheet(path) as (_, sheet):
        width = line = 0
        try:
            for line, values in enumerate(sheet.iter_rows(min_row=1, values_only=True), 1):
                fields = [cell_text(value) for value in values]
                while fields and not fields[-1]:
                    fields.pop()
                if not width:
                    if not fields:
                        continue
                    width = len(fields)
                yield line, fields + [""] * (width - len(fields))
        except FileRefused:
            raise
        except Exception as exc:  # a damaged sheet part, found while streaming it
            raise FileRefused(
                f"this Excel workbook cannot be read past row {line} ({type(exc).__name__}): "
                "open it in Excel and save it again as .xlsx or CSV"
            ) from None


def cell_text(value) -> str:
    """A cell as the text a CSV file would hold. Dates and times become ISO 8601 (a
    workbook's times have no offset, so they are London time, as in CSV files)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, datetime):
        # Excel stores times as fractions of a day: 10:30 may come back as 10:29:59.999999.
        value = (value + timedelta(microseconds=500_000)).replace(microsecond=0)
        if value.time() == time(0):
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)

"""The result of the last check as rows: one code path for export_hygiene and downloads."""

import csv
import json
from collections.abc import Iterator
from datetime import date

from .models import CareHome, SharedMailbox, StaffAccount
from .rules import activity_date, days_inactive, london_today

ACCOUNT_COLUMNS = [
    "ods_code",
    "email",
    "display_name",
    "state",
    "last_activity",
    "days_inactive",
    "disable_date",
]
MAILBOX_COLUMNS = ["ods_code", "email", "risk", "alive_accounts", "forecast_date"]
KINDS = {"accounts": ACCOUNT_COLUMNS, "mailboxes": MAILBOX_COLUMNS}


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def account_rows(homes, as_of: date | None = None) -> Iterator[dict]:
    as_of = as_of or london_today()
    rows = (
        StaffAccount.objects.filter(home__in=homes)
        .order_by("home__ods_code", "email")
        .values_list(
            "home__ods_code",
            "email",
            "display_name",
            "state",
            "last_activity_date",
            "first_recorded",
            "disable_date",
        )
    )
    for ods, email, name, state, last_on, first_on, disable_on in rows.iterator(chunk_size=5000):
        yield {
            "ods_code": ods,
            "email": email,
            "display_name": name,
            "state": state,
            "last_activity": _iso(last_on),
            "days_inactive": days_inactive(activity_date(last_on, first_on), as_of),
            "disable_date": _iso(disable_on),
        }


def mailbox_rows(homes) -> Iterator[dict]:
    rows = (
        SharedMailbox.objects.filter(home__in=homes)
        .order_by("home__ods_code", "email")
        .values_list("home__ods_code", "email", "risk", "alive_accounts", "forecast_date")
    )
    for ods, email, risk, alive, forecast in rows.iterator(chunk_size=5000):
        yield {
            "ods_code": ods,
            "email": email,
            "risk": risk,
            "alive_accounts": alive,
            "forecast_date": _iso(forecast),
        }


def rows_for(kind: str, homes=None, as_of: date | None = None) -> Iterator[dict]:
    homes = CareHome.objects.all() if homes is None else homes
    return account_rows(homes, as_of) if kind == "accounts" else mailbox_rows(homes)


class _Line:
    """A file-like that hands back what csv writes, one line at a time."""

    def write(self, text: str) -> str:
        return text


# A spreadsheet takes a cell starting with one of these for a formula (OWASP, "CSV
# injection"): such a text cell is written with a leading ' so that it shows as text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value):
    """None is written empty; text that a spreadsheet would run is defused. Numbers and
    dates are written as they are: -3 is a number to a spreadsheet, not a formula. A
    carriage return in text becomes a line break, which csv quotes (it leaves a lone CR
    bare, and a reader would split the row there)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        return value
    if value.startswith(FORMULA_START):
        value = "'" + value
    return value.replace("\r\n", "\n").replace("\r", "\n")


def stream_csv(columns: list[str], rows) -> Iterator[str]:
    """Dict rows as CSV text for people, line by line (for streaming downloads)."""
    writer = csv.DictWriter(_Line(), fieldnames=columns, lineterminator="\n")
    yield writer.writeheader()
    for row in rows:
        yield writer.writerow({k: _cell(v) for k, v in row.items()})


def csv_lines(kind: str, rows) -> Iterator[str]:
    """The hygiene export as CSV text, line by line."""
    return stream_csv(KINDS[kind], rows)


def write_csv(kind: str, rows, out) -> None:
    for line in csv_lines(kind, rows):
        out.write(line)


def write_json(rows, out) -> None:
    out.write(json.dumps(list(rows), indent=1) + "\n")

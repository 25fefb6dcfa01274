"""The result of the last check as rows: one code path for export_hygiene and downloads.

Every figure of a row counts from one date, the row's `as_of`: the date its home was last
judged (CareHome.checked_as_of), the same date the state beside it was set as of."""

import csv
import json
from collections.abc import Iterator
from datetime import date

from .models import CareHome, SharedMailbox, StaffAccount
from .rules import Thresholds, days_inactive_as_judged

ACCOUNT_COLUMNS = [
    "ods_code",
    "email",
    "display_name",
    "state",
    "last_activity",
    "days_inactive",
    "disable_date",
    "as_of",
]
MAILBOX_COLUMNS = ["ods_code", "email", "risk", "alive_accounts", "forecast_date", "as_of"]
KINDS = {"accounts": ACCOUNT_COLUMNS, "mailboxes": MAILBOX_COLUMNS}


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def account_rows(homes) -> Iterator[dict]:
    rows = (
        StaffAccount.objects.filter(home__in=homes)
        .order_by("home__ods_code", "email")
        .values_list(
            "home__ods_code",
            "email",
            "display_name",
            "state",
            "last_activity_date",
            "disable_date",
            "home__checked_as_of",
        )
    )
    thresholds = Thresholds.from_settings()
    for ods, email, name, state, last_on, disable_on, as_of in rows.iterator(chunk_size=5000):
        judged = state is not None and as_of is not None
        yield {
            "ods_code": ods,
            "email": email,
            "display_name": name,
            "state": state,
            "last_activity": _iso(last_on),
            "days_inactive": (
                days_inactive_as_judged(disable_on, as_of, thresholds) if judged else None
            ),
            "disable_date": _iso(disable_on),
            "as_of": _iso(as_of) if judged else None,
        }


def mailbox_rows(homes) -> Iterator[dict]:
    rows = (
        SharedMailbox.objects.filter(home__in=homes)
        .order_by("home__ods_code", "email")
        .values_list(
            "home__ods_code",
            "email",
            "risk",
            "alive_accounts",
            "forecast_date",
            "home__checked_as_of",
        )
    )
    for ods, email, risk, alive, forecast, as_of in rows.iterator(chunk_size=5000):
        yield {
            "ods_code": ods,
            "email": email,
            "risk": risk,
            "alive_accounts": alive,
            "forecast_date": _iso(forecast),
            "as_of": _iso(as_of) if risk else None,
        }


def rows_for(kind: str, homes=None) -> Iterator[dict]:
    homes = CareHome.objects.all() if homes is None else homes
    return account_rows(homes) if kind == "accounts" else mailbox_rows(homes)


class _Line:
    """A file-like that hands back what csv writes, one line at a time."""

    def write(self, text: str) -> str:
        return text


# A spreadsheet takes a cell starting with one of these for a formula (OWASP, "CSV
# injection"): such a text cell is written with a leading ' so that it shows as text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value):
    """None is written empty; a cell that a spreadsheet would run is defused, a negative
    number too (the contract: no cell starts with one of FORMULA_START; JSON keeps -3).
    A carriage return becomes a line break, which csv quotes (it leaves a lone CR bare,
    and a reader would split the row there)."""
    if value is None:
        return ""
    value = str(value)
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

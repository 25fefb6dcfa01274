"""Downloads for people, who open them in Excel: a UTF-8 byte order mark (so that Excel
reads the file as UTF-8), headers and states in words, dates as DD/MM/YYYY, and a file name
that says the date the figures are as of. Cells are defused as in exports.stream_csv.
export_hygiene keeps its own columns (the contract): see exports.py.

An accounts download can be edited and imported again: its headers and states are among
what the accounts import accepts (imports/specs.py)."""

from collections.abc import Iterator
from datetime import date, datetime

from django.http import StreamingHttpResponse

from .dashboard import last_run
from .exports import stream_csv
from .models import SharedMailbox, StaffAccount
from .rules import (
    LONDON,
    AccountState,
    MailboxRisk,
    Thresholds,
    days_inactive_as_judged,
    london_today,
)

BOM = "\ufeff"

ACCOUNT_COLUMNS = {
    "ods_code": "ODS code",
    "email": "Email address",
    "display_name": "Name",
    "state": "State",
    "last_activity": "Last activity",
    "days_inactive": "Days since last log-in",
    "disable_date": "Disable date",
    "as_of": "As of",
}
MAILBOX_COLUMNS = {
    "ods_code": "ODS code",
    "email": "Email address",
    "risk": "Risk",
    "alive_accounts": "People who can open it",
    "forecast_date": "At risk from",
    "as_of": "As of",
}
HOME_COLUMNS = {
    "ods_code": "ODS code",
    "name": "Name",
    "region": "Region",
    "worst_risk": "Worst risk",
    "soonest_forecast": "Soonest at risk",
}


def shown(value):
    """A cell as people read it: dates day first, London times to the second."""
    if isinstance(value, datetime):
        moment = value.astimezone(LONDON)
        if (moment.hour, moment.minute, moment.second) == (0, 0, 0):
            return f"{moment:%d/%m/%Y}"
        return f"{moment:%d/%m/%Y %H:%M:%S}"
    if isinstance(value, date):
        return f"{value:%d/%m/%Y}"
    return value


def lines(columns: dict[str, str], rows) -> Iterator[str]:
    """Dict rows as CSV for people: a BOM, then a header of the labels in `columns`."""
    labelled = ({columns[key]: shown(row.get(key)) for key in columns} for row in rows)
    first = True
    for line in stream_csv(list(columns.values()), labelled):
        yield BOM + line if first else line
        first = False


def as_of_date() -> date:
    """The date the portal's figures are as of: the last national check's, else today."""
    run = last_run()
    return run.as_of if run else london_today()


def response(columns: dict[str, str], rows, stem: str) -> StreamingHttpResponse:
    download = StreamingHttpResponse(lines(columns, rows), content_type="text/csv; charset=utf-8")
    name = f"{stem}-as-of-{as_of_date():%Y-%m-%d}.csv"
    download["Content-Disposition"] = f'attachment; filename="{name}"'
    return download


def _label(choices, value) -> str | None:
    return choices(value).label if value else None


def account_rows(homes) -> Iterator[dict]:
    """Every account of these homes, with its figures as the check judged them (the same
    functions as exports.account_rows)."""
    found = (
        StaffAccount.objects.filter(home__in=homes)
        .order_by("home__ods_code", "email")
        .values_list("home__ods_code", "email", "display_name", "state", "last_activity",
                     "disable_date", "home__checked_as_of")
    )  # fmt: skip
    thresholds = Thresholds.from_settings()
    for ods, email, name, state, last, disable_on, as_of in found.iterator(chunk_size=5000):
        judged = state is not None and as_of is not None
        yield {
            "ods_code": ods,
            "email": email,
            "display_name": name,
            "state": _label(AccountState, state),
            "last_activity": last,
            "days_inactive": (
                days_inactive_as_judged(disable_on, as_of, thresholds) if judged else None
            ),
            "disable_date": disable_on,
            "as_of": as_of if judged else None,
        }


def mailbox_rows(homes) -> Iterator[dict]:
    found = (
        SharedMailbox.objects.filter(home__in=homes)
        .order_by("home__ods_code", "email")
        .values_list("home__ods_code", "email", "risk", "alive_accounts", "forecast_date",
                     "home__checked_as_of")
    )  # fmt: skip
    for ods, email, risk, alive, forecast, as_of in found.iterator(chunk_size=5000):
        yield {
            "ods_code": ods,
            "email": email,
            "risk": _label(MailboxRisk, risk),
            "alive_accounts": alive,
            "forecast_date": forecast,
            "as_of": as_of if risk else None,
        }


def home_rows(ranked) -> Iterator[dict]:
    for home in ranked.iterator(chunk_size=2000):
        yield {
            "ods_code": home.ods_code,
            "name": home.name,
            "region": home.region.name if home.region else None,
            "worst_risk": _label(MailboxRisk, home.worst_risk),
            "soonest_forecast": home.soonest_forecast,
        }


KINDS = {"accounts": (ACCOUNT_COLUMNS, account_rows), "mailboxes": (MAILBOX_COLUMNS, mailbox_rows)}

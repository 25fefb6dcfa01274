"""The admin dashboard's table of homes, each row's words worked out once in Python. Fifty
homes as model instances through the template (a reverse() for each link, the date filter,
the region's join) cost more CPU than every query on the page (160 µs a row); a row of
plain values read by values_list costs a fraction of that."""

from dataclasses import dataclass

from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.safestring import SafeString

from . import rules
from .dashboard import short_date
from .templatetags.portal import risk_tag

# What dashboard.ranked_homes' queryset is read as, in this order.
COLUMNS = ("name", "ods_code", "region__name", "risk_rank", "soonest_forecast")
# A code no home has (codes are 3 to 6 letters and digits), reversed in its place once.
_STAND_IN = "STANDINCODE"


@dataclass(slots=True)
class HomeRow:
    name: str
    ods_code: str
    region: str
    url: str
    risk_html: SafeString
    cut_off: str  # the soonest date a mailbox is at risk, or "–"

    def __getitem__(self, name: str):
        # Django's templates try row[name] before row.name: answering it spares them an
        # exception on each lookup.
        return getattr(self, name)


def home_url_maker():
    """A function from a home's ODS code to its page's address, from one reverse()."""
    before, after = reverse("home_detail", args=[_STAND_IN]).split(_STAND_IN)
    return lambda code: f"{before}{code}{after}"


def rows(values) -> list[HomeRow]:
    """One row per tuple of COLUMNS (a page of the ranked homes' values_list)."""
    url = home_url_maker()
    return [
        HomeRow(
            name=name,
            ods_code=code,
            region=region or "",
            url=url(code),
            risk_html=risk_tag(rules.worst_risk(rank)),
            cut_off=short_date(forecast) if forecast else "–",
        )
        for name, code, region, rank, forecast in values
    ]


ROW = (
    '<tr class="nhsuk-table__row"><td class="nhsuk-table__cell"><a href="{}">{}</a></td>'
    '<td class="nhsuk-table__cell">{}</td><td class="nhsuk-table__cell">{}</td>'
    '<td class="nhsuk-table__cell">{}</td><td class="nhsuk-table__cell">{}</td></tr>'
)


def html(rows: list[HomeRow]) -> SafeString:
    """The rows as the dashboard's table rows (fifty rows of five cells through the
    template's loop cost more than the rest of the page)."""
    return format_html_join(
        "\n", ROW, ((r.url, r.name, r.ods_code, r.region, r.risk_html, r.cut_off) for r in rows)
    )

"""The API's figures come from the functions the pages use; this holds the little the API
adds: the date of the last check, and counts by state for a page of homes."""

from collections import defaultdict
from datetime import date

from django.db.models import Count

from accounts import dashboard
from accounts.models import StaffAccount
from accounts.rules import AccountState


def last_check_as_of() -> date | None:
    """The as-of date of the last check the pages report (none before the first). Each row
    also carries its own `as_of`: the date its home was judged, which a recheck after an
    import or a manager's action can bring forward."""
    run = dashboard.last_run()
    return run.as_of if run else None


def counts_by_state(home_ids) -> dict[int, dict[str, int]]:
    """Accounts by state for each home, every state present: one query for any number."""
    found = _counted(home_ids)
    return {home_id: _every_state(found[home_id]) for home_id in home_ids}


def one_home_counts(home_id: int) -> tuple[dict[str, int], int]:
    """One home's accounts by state, and how many accounts it has (those not judged yet
    too), in one query."""
    found = _counted([home_id])[home_id]
    return _every_state(found), sum(found.values())


def _counted(home_ids) -> dict[int, dict[str | None, int]]:
    found = defaultdict(dict)
    for home_id, state, n in (
        StaffAccount.objects.filter(home_id__in=list(home_ids))
        .values_list("home_id", "state")
        .annotate(n=Count("id"))
        .order_by()
    ):
        found[home_id][state] = n
    return found


def _every_state(found: dict) -> dict[str, int]:
    return {s.value: found.get(s.value, 0) for s in AccountState}

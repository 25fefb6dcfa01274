"""The nightly check: set-based SQL that brings every account's state and every shared
mailbox's risk up to date as of a date, writing only the rows that change.

A run is one transaction guarded by a lock, so two runs never overlap and a run that dies
leaves the previous state whole. The rules themselves are in rules.py; the SQL here is
their set-based twin (tests/test_rules.py proves they agree).
"""

import fcntl
import logging
from contextlib import contextmanager
from datetime import date

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from .models import CareHome, CheckRun, SharedMailbox, StaffAccount
from .rules import GONE, KEEPS_MAILBOX_ALIVE, RISK_ORDER, AccountState, MailboxRisk, Thresholds

log = logging.getLogger(__name__)

LOCK_KEY = 0x4E48534D  # "NHSM": the advisory lock id of the nightly check

HOMES = CareHome._meta.db_table
ACCOUNTS = StaffAccount._meta.db_table
MAILBOXES = SharedMailbox._meta.db_table
LINKS = "accounts_mailboxlink"
CHANGES = "accounts_statechange"


# rules.activity_date, in SQL: reported activity (or first recorded), or a later vouched log-in.
ACTIVITY = """CASE WHEN a.attested_on > COALESCE(a.last_activity_date, a.first_recorded)
    THEN a.attested_on ELSE COALESCE(a.last_activity_date, a.first_recorded) END"""


def _in(values) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _plus_days(column: str, days: int) -> str:
    """Date arithmetic differs by database; days is an int from settings, never user input."""
    if connection.vendor == "postgresql":
        return f"({column} + {int(days)})"
    return f"date({column}, '+{int(days)} days')"


def _account_sql(days: int, scope: str = "") -> str:
    """One pass over accounts: the rows whose state or disable date must change."""
    return f"""
        CREATE TEMPORARY TABLE check_account_changes AS
        SELECT id, old_state, new_state, new_disable FROM (
            SELECT a.id, a.state AS old_state, a.disable_date AS old_disable,
                CASE
                    WHEN a.left_on IS NOT NULL AND a.left_on <= %(as_of)s THEN 'left'
                    WHEN a.reported_status = 'deleted' THEN 'deleted'
                    WHEN a.reported_status = 'disabled' THEN 'disabled'
                    WHEN {ACTIVITY} <= %(inactive_before)s THEN 'inactive'
                    WHEN {ACTIVITY} <= %(at_risk_before)s THEN 'at_risk'
                    ELSE 'active'
                END AS new_state,
                {_plus_days(ACTIVITY, days)} AS new_disable
            FROM {ACCOUNTS} a {scope and f"WHERE a.{scope}"}
        ) s
        WHERE new_state IS DISTINCT FROM old_state OR new_disable IS DISTINCT FROM old_disable
    """


def _mailbox_sql(days: int, scope: str = "") -> str:
    """One pass over mailboxes and their links: the rows whose risk, alive count or
    forecast must change."""
    alive, gone = _in(KEEPS_MAILBOX_ALIVE), _in(GONE)
    return f"""
        CREATE TEMPORARY TABLE check_mailbox_changes AS
        SELECT id, old_risk, new_risk, old_alive, new_alive, new_forecast FROM (
            SELECT m.id, m.risk AS old_risk, m.alive_accounts AS old_alive,
                m.forecast_date AS old_forecast,
                CASE
                    WHEN COALESCE(agg.reachable, 0) = 0 THEN 'orphaned'
                    WHEN COALESCE(agg.alive, 0) = 0 THEN 'at_risk'
                    WHEN agg.alive = 1 THEN 'single_user'
                    ELSE 'healthy'
                END AS new_risk,
                COALESCE(agg.alive, 0) AS new_alive,
                {_plus_days("agg.latest_alive", days)} AS new_forecast
            FROM {MAILBOXES} m
            LEFT JOIN (
                SELECT l.mailbox_id,
                    SUM(CASE WHEN a.state IN ({alive}) THEN 1 ELSE 0 END) AS alive,
                    SUM(CASE WHEN a.state IN ({gone}) THEN 0 ELSE 1 END) AS reachable,
                    MAX(CASE WHEN a.state IN ({alive}) THEN {ACTIVITY} END) AS latest_alive
                FROM {LINKS} l JOIN {ACCOUNTS} a ON a.id = l.account_id
                GROUP BY l.mailbox_id
            ) agg ON agg.mailbox_id = m.id
            {scope and f"WHERE m.{scope}"}
        ) s
        WHERE new_risk IS DISTINCT FROM old_risk OR new_alive IS DISTINCT FROM old_alive
            OR new_forecast IS DISTINCT FROM old_forecast
    """


def _homes_sql(scope: str) -> str:
    """Each home's worst mailbox risk and soonest forecast, written where they change."""
    rank = " ".join(f"WHEN '{risk.value}' THEN {n}" for n, risk in enumerate(RISK_ORDER))
    return f"""
        UPDATE {HOMES} AS h SET risk_rank = s.risk_rank, soonest_forecast = s.forecast
        FROM (
            SELECT c.id, COALESCE(MIN(CASE m.risk {rank} END), {len(RISK_ORDER)}) AS risk_rank,
                MIN(m.forecast_date) AS forecast
            FROM {HOMES} c LEFT JOIN {MAILBOXES} m ON m.home_id = c.id
            {scope and "WHERE c.id = %(home)s"}
            GROUP BY c.id
        ) s
        WHERE h.id = s.id AND (h.risk_rank IS DISTINCT FROM s.risk_rank
            OR h.soonest_forecast IS DISTINCT FROM s.forecast)"""


def _statements(days: int, scope: str = "") -> list[str]:
    """The statements after the two change tables exist: events, then the writes."""
    if connection.vendor == "postgresql":
        update_accounts = f"""
            UPDATE {ACCOUNTS} a SET state = c.new_state, disable_date = c.new_disable,
                state_changed_at = CASE WHEN c.new_state IS DISTINCT FROM c.old_state
                    THEN %(now)s ELSE a.state_changed_at END
            FROM check_account_changes c WHERE a.id = c.id"""
        update_mailboxes = f"""
            UPDATE {MAILBOXES} m SET risk = c.new_risk, alive_accounts = c.new_alive,
                forecast_date = c.new_forecast, checked_at = %(now)s
            FROM check_mailbox_changes c WHERE m.id = c.id"""
    else:
        update_accounts = f"""
            UPDATE {ACCOUNTS} SET state = c.new_state, disable_date = c.new_disable,
                state_changed_at = CASE WHEN c.new_state IS DISTINCT FROM c.old_state
                    THEN %(now)s ELSE {ACCOUNTS}.state_changed_at END
            FROM check_account_changes c WHERE {ACCOUNTS}.id = c.id"""
        update_mailboxes = f"""
            UPDATE {MAILBOXES} SET risk = c.new_risk, alive_accounts = c.new_alive,
                forecast_date = c.new_forecast, checked_at = %(now)s
            FROM check_mailbox_changes c WHERE {MAILBOXES}.id = c.id"""
    return [
        f"""INSERT INTO {CHANGES} (run_id, as_of, account_id, mailbox_id, from_value, to_value)
            SELECT %(run)s, %(as_of)s, id, NULL, COALESCE(old_state, ''), new_state
            FROM check_account_changes WHERE new_state IS DISTINCT FROM old_state""",
        update_accounts,
        _mailbox_sql(days, scope),
        f"""INSERT INTO {CHANGES} (run_id, as_of, account_id, mailbox_id, from_value, to_value)
            SELECT %(run)s, %(as_of)s, NULL, id, COALESCE(old_risk, ''), new_risk
            FROM check_mailbox_changes WHERE new_risk IS DISTINCT FROM old_risk""",
        """INSERT INTO accounts_mailboxalivechange (run_id, mailbox_id, alive)
            SELECT %(run)s, id, new_alive FROM check_mailbox_changes
            WHERE new_alive IS DISTINCT FROM old_alive""",
        update_mailboxes,
        _homes_sql(scope),
    ]


@contextmanager
def _exclusive():
    """Yields True when this run holds the check's lock, False when another run does.
    Must be entered inside the run's transaction."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [LOCK_KEY])
            yield cursor.fetchone()[0]
        return
    # SQLite: an OS file lock beside the database works across processes.
    with open(settings.VAR_DIR / "check_inactivity.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _apply(run: CheckRun, thresholds: Thresholds, home_id: int | None = None) -> None:
    """The set-based check: a fixed handful of statements whatever the number of rows."""
    now = timezone.now()
    params = {
        "as_of": run.as_of,
        "inactive_before": thresholds.inactive_on_or_before(run.as_of),
        "at_risk_before": thresholds.at_risk_on_or_before(run.as_of),
        "run": run.pk,
        "now": now,
        "home": home_id,
    }
    scope = "home_id = %(home)s" if home_id else ""
    with connection.cursor() as cursor:
        for table in ("check_account_changes", "check_mailbox_changes"):
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
        days = thresholds.inactivity_days
        for sql in [_account_sql(days, scope), *_statements(days, scope)]:
            cursor.execute(sql, params)
            if sql.lstrip().startswith("CREATE TEMPORARY TABLE"):
                table = sql.split()[3]
                if connection.vendor != "postgresql":
                    # SQLite joins an UPDATE ... FROM by looking rows up: give it an index.
                    cursor.execute(f"CREATE INDEX {table}_id ON {table} (id)")
                # Without statistics the planner takes the change table for tiny and joins
                # it row by row; with them it hashes, which is what a million changes need.
                cursor.execute(f"ANALYZE {table}")
        cursor.execute(
            """SELECT
                SUM(CASE WHEN new_state = 'inactive' AND old_state IS DISTINCT FROM 'inactive'
                    THEN 1 ELSE 0 END),
                SUM(CASE WHEN new_state = 'active' AND old_state IN ('inactive', 'at_risk')
                    THEN 1 ELSE 0 END),
                SUM(CASE WHEN new_state IS DISTINCT FROM old_state THEN 1 ELSE 0 END)
            FROM check_account_changes"""
        )
        flagged, recovered, account_events = cursor.fetchone()
        cursor.execute(
            "SELECT COUNT(*) FROM check_mailbox_changes WHERE new_risk IS DISTINCT FROM old_risk"
        )
        mailbox_events = cursor.fetchone()[0]
        for table in ("check_account_changes", "check_mailbox_changes"):
            cursor.execute(f"DROP TABLE {table}")
    accounts, mailboxes = StaffAccount.objects.all(), SharedMailbox.objects.all()
    if home_id:
        accounts, mailboxes = accounts.filter(home_id=home_id), mailboxes.filter(home_id=home_id)
    by_state = dict(accounts.values_list("state").annotate(n=Count("id")).order_by())
    by_risk = dict(mailboxes.values_list("risk").annotate(n=Count("id")).order_by())
    run.checked = sum(by_state.values())
    run.newly_flagged = flagged or 0
    run.recovered = recovered or 0
    run.events = (account_events or 0) + mailbox_events
    run.accounts_by_state = {s.value: by_state.get(s.value, 0) for s in AccountState}
    run.mailboxes_by_risk = {r.value: by_risk.get(r.value, 0) for r in MailboxRisk}


def _mark_checked(run: CheckRun) -> None:
    """The homes this run judged now count their figures from its date."""
    homes = CareHome.objects.filter(pk=run.home_id) if run.home_id else CareHome.objects.all()
    homes.exclude(checked_as_of=run.as_of).update(checked_as_of=run.as_of)


def run_check(as_of: date, trigger: str = CheckRun.Trigger.COMMAND, home=None) -> CheckRun:
    """Run the check as of a London date and return its run record (ok, failed or skipped).
    With a home, only that home's accounts and mailboxes are brought up to date (after a
    manager's action), recorded as a run of its own."""
    run = CheckRun.objects.create(as_of=as_of, trigger=trigger, home=home)
    thresholds = Thresholds.from_settings()
    try:
        with transaction.atomic(), _exclusive() as acquired:
            if acquired:
                _apply(run, thresholds)
                _mark_checked(run)
                run.outcome = CheckRun.Outcome.OK
            else:
                run.outcome = CheckRun.Outcome.SKIPPED
            run.finished_at = timezone.now()
            run.save()
    except Exception as exc:  # the run record must say why it failed, then the caller hears it
        log.exception("check as of %s failed", as_of)
        CheckRun.objects.filter(pk=run.pk).update(
            outcome=CheckRun.Outcome.FAILED,
            error=f"{type(exc).__name__}: {exc}",
            finished_at=timezone.now(),
        )
        run.refresh_from_db()
        raise
    return run

"""The check: set-based SQL that brings accounts' states and shared mailboxes' risks up to
date as of a date, writing only the rows that change.

Three shapes of the same statements:
- national, incremental (the nightly default): every account is judged (states move with
  the date), but only the mailboxes linked to an account whose state or activity changed,
  and those a database trigger marked as touched since (links or mailboxes added, moved or
  removed: PendingCheck), are recomputed; every home is re-ranked from the stored risks
  (cheap) and marked checked as of the run's date in the same statement;
- national, full (`check_inactivity --full`, weekly by beat): every mailbox and home;
- scoped (`home=` after a manager's action, `home_ids=` after an import): the same
  statements restricted to those homes' rows, the mailbox aggregate included.

The scope of a run and the locks that keep runs apart are in checkscope.py.

Each run is one transaction: a run that dies leaves the previous state whole. The rules are
in rules.py; rulesql.py writes them as SQL.
"""

import logging
from collections.abc import Iterable
from datetime import date

from django.db import connection
from django.db.models import Count
from django.utils import timezone

from . import rulesql, worklistcounts
from .checkscope import CheckBusy, Scope, locked_transaction
from .models import CareHome, CheckRun, PendingCheck, SharedMailbox, StaffAccount
from .rules import AccountState, MailboxRisk, Thresholds

log = logging.getLogger(__name__)

HOMES = CareHome._meta.db_table
ACCOUNTS = StaffAccount._meta.db_table
MAILBOXES = SharedMailbox._meta.db_table
PENDING = PendingCheck._meta.db_table
LINKS = "accounts_mailboxlink"
CHANGES = "accounts_statechange"
TEMP_TABLES = ("check_pending", "check_account_changes", "check_mailboxes", "check_mailbox_changes")


def _account_changes(scope: Scope, days: int) -> list[tuple[str, str | None]]:
    """Every account of the scope is judged; the rows whose state or disable date must
    change go to check_account_changes. On PostgreSQL the same scan counts accounts by
    their new state (the run's totals), instead of a second pass over the table."""
    vendor = connection.vendor
    judged = f"""SELECT a.id, a.state AS old_state, a.disable_date AS old_disable,
            {rulesql.account_state("a")} AS new_state,
            {rulesql.plus_days(vendor, rulesql.activity("a"), days)} AS new_disable
        FROM {ACCOUNTS} a WHERE {scope.homes("a.home_id")}"""
    changed = "new_state IS DISTINCT FROM old_state OR new_disable IS DISTINCT FROM old_disable"
    if vendor != "postgresql":
        return [
            (
                f"""CREATE TEMPORARY TABLE check_account_changes AS
                SELECT id, old_state, new_state, new_disable FROM ({judged}) s WHERE {changed}""",
                "check_account_changes",
            )
        ]
    return [
        (
            """CREATE TEMPORARY TABLE check_account_changes (
                id integer, old_state varchar(10), new_state varchar(10), new_disable date)""",
            None,
        ),
        (
            f"""WITH s AS ({judged}),
                ins AS (INSERT INTO check_account_changes
                    SELECT id, old_state, new_state, new_disable FROM s WHERE {changed})
                SELECT new_state, COUNT(*), SUM(CASE WHEN {changed} THEN 1 ELSE 0 END)
                FROM s GROUP BY new_state""",
            "check_account_changes",
        ),
    ]


def _mailbox_set(scope: Scope) -> str:
    """The mailboxes to recompute (not used by a full run, which takes them all)."""
    parts = [
        f"""SELECT l.mailbox_id FROM check_account_changes c
            JOIN {LINKS} l ON l.account_id = c.id"""
    ]
    if scope.national:
        parts.append("SELECT mailbox_id FROM check_pending WHERE mailbox_id IS NOT NULL")
    else:
        parts.append(f"SELECT id FROM {MAILBOXES} WHERE {scope.homes('home_id')}")
    return "CREATE TEMPORARY TABLE check_mailboxes AS SELECT DISTINCT mailbox_id AS id FROM (" + (
        " UNION ALL ".join(parts) + ") u"
    )


def _mailbox_changes(scope: Scope, days: int) -> str:
    """The mailboxes of the set whose risk, alive count or forecast must change; the
    aggregate reads only the links of those mailboxes."""
    alive = rulesql.keeps_alive("a.state")
    if scope.full:
        mailboxes, links = f"{MAILBOXES} m", f"{LINKS} l"
    else:
        mailboxes = f"check_mailboxes t JOIN {MAILBOXES} m ON m.id = t.id"
        links = f"check_mailboxes t JOIN {LINKS} l ON l.mailbox_id = t.id"
    return f"""
        CREATE TEMPORARY TABLE check_mailbox_changes AS
        SELECT id, home_id, old_risk, new_risk, old_alive, new_alive, new_forecast FROM (
            SELECT m.id, m.home_id, m.risk AS old_risk, m.alive_accounts AS old_alive,
                m.forecast_date AS old_forecast,
                {rulesql.mailbox_risk("agg.alive", "agg.reachable")} AS new_risk,
                COALESCE(agg.alive, 0) AS new_alive,
                {rulesql.plus_days(connection.vendor, "agg.latest_alive", days)} AS new_forecast
            FROM {mailboxes}
            LEFT JOIN (
                SELECT l.mailbox_id,
                    SUM(CASE WHEN {alive} THEN 1 ELSE 0 END) AS alive,
                    SUM(CASE WHEN {rulesql.is_gone("a.state")} THEN 0 ELSE 1 END) AS reachable,
                    MAX(CASE WHEN {alive} THEN {rulesql.activity("a")} END) AS latest_alive
                FROM {links} JOIN {ACCOUNTS} a ON a.id = l.account_id
                GROUP BY l.mailbox_id
            ) agg ON agg.mailbox_id = m.id
        ) s
        WHERE new_risk IS DISTINCT FROM old_risk OR new_alive IS DISTINCT FROM old_alive
            OR new_forecast IS DISTINCT FROM old_forecast
    """


def _homes_sql(scope: Scope) -> str:
    """Each home's worst mailbox risk and soonest forecast, written where they change. A
    national run (full or not) ranks every home from the stored risks (a few tenths of a
    second) and marks each checked as of its date in the same write: marked by a statement
    of its own, each home was written twice, and the second write of a home was rarely in
    place (its name and code have trigram indexes): 0.75 s a night at 41,000 homes. A
    scoped run ranks the homes of the recomputed mailboxes and of the scope (_mark_checked
    marks only the scope's)."""
    checked = ""
    if scope.national:
        which = ""
        checked = ", checked_as_of = %(as_of)s"
    else:
        homes = [
            f"SELECT m.home_id FROM check_mailboxes t JOIN {MAILBOXES} m ON m.id = t.id",
            f"SELECT id FROM {HOMES} WHERE {scope.homes('id')}",
        ]
        which = "WHERE c.id IN (" + " UNION ".join(homes) + ")"
    return f"""
        UPDATE {HOMES} AS h SET risk_rank = s.risk_rank, soonest_forecast = s.forecast{checked}
        FROM (
            SELECT c.id, COALESCE(MIN({rulesql.risk_rank("m.risk")}), {rulesql.UNCHECKED_RANK})
                    AS risk_rank,
                MIN(m.forecast_date) AS forecast
            FROM {HOMES} c LEFT JOIN {MAILBOXES} m ON m.home_id = c.id
            {which}
            GROUP BY c.id
        ) s
        WHERE h.id = s.id AND (h.risk_rank IS DISTINCT FROM s.risk_rank
            OR h.soonest_forecast IS DISTINCT FROM s.forecast
            {"OR h.checked_as_of IS DISTINCT FROM %(as_of)s" if scope.national else ""})"""


def _statements(scope: Scope, days: int, by_id: bool = False) -> list[tuple[str, str | None]]:
    """Everything after the account changes are known: events, then the writes. by_id
    (PostgreSQL): the accounts that change are few, so their rows are found by id
    (BY_ID_WHEN_CHANGED)."""
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
    steps = [
        f"""INSERT INTO {CHANGES} (run_id, as_of, account_id, mailbox_id, from_value, to_value)
            SELECT %(run)s, %(as_of)s, id, NULL, COALESCE(old_state, ''), new_state
            FROM check_account_changes WHERE new_state IS DISTINCT FROM old_state""",
        *([SEEK_BY_ID, update_accounts, SEEK_AS_BEFORE] if by_id else [update_accounts]),
        *([] if scope.full else [(_mailbox_set(scope), "check_mailboxes")]),
        (_mailbox_changes(scope, days), "check_mailbox_changes"),
        f"""INSERT INTO {CHANGES} (run_id, as_of, account_id, mailbox_id, from_value, to_value)
            SELECT %(run)s, %(as_of)s, NULL, id, COALESCE(old_risk, ''), new_risk
            FROM check_mailbox_changes WHERE new_risk IS DISTINCT FROM old_risk""",
        """INSERT INTO accounts_mailboxalivechange (run_id, mailbox_id, alive)
            SELECT %(run)s, id, new_alive FROM check_mailbox_changes
            WHERE new_alive IS DISTINCT FROM old_alive""",
        update_mailboxes,
        _homes_sql(scope),
        *(
            [f"DELETE FROM {PENDING} WHERE id IN (SELECT id FROM check_pending)"]
            if scope.national
            else []
        ),
    ]
    return [step if isinstance(step, tuple) else (step, None) for step in steps]


def settings_for_big_statements(cursor) -> None:
    """PostgreSQL settings for this transaction only (README: "The check at national scale")."""
    cursor.execute("SET LOCAL work_mem = '256MB'")
    cursor.execute("SET LOCAL jit = off")
    cursor.execute("SET LOCAL random_page_cost = 1.1")


RECOVERED_FROM = (AccountState.INACTIVE, AccountState.AT_RISK)
# A national run where more than this share of accounts changed recomputes everything:
# cheaper than collecting the mailboxes of a million changes (a first run, a long gap).
FULL_WHEN_CHANGED = 0.2
# When at most this share of the judged accounts changes, the accounts' UPDATE finds their
# rows by id (PostgreSQL's planner reads the whole table and hashes the changes instead).
# Measured at 1M accounts, rolled back: 50,000 changes took 1.11-1.18 s by id against
# 1.47-1.98 s by a scan, 100,000 took 2.43 s against 2.50 s, 200,000 3.9 s against 4.8 s.
BY_ID_WHEN_CHANGED = 0.2
SEEK_BY_ID = "SET LOCAL enable_seqscan = off"
# Then back to what it was, for the rest of the transaction: not "on", since a role or a
# session may have turned it off (%(seqscan)s: seqscan_setting, read before).
SEEK_AS_BEFORE = "SELECT set_config('enable_seqscan', %(seqscan)s, true)"


def seqscan_setting(cursor) -> str:
    cursor.execute("SELECT current_setting('enable_seqscan')")
    return cursor.fetchone()[0]


def _execute(cursor, steps, params) -> list | None:
    """Runs (sql, table) steps; a named table was just filled: index it on SQLite (which
    joins an UPDATE ... FROM by looking rows up) and analyse it (without statistics the
    planner guesses its size: a hash join over every link for one home's three mailboxes,
    or row by row for a million changes). Returns the rows of the last step that returned
    any."""
    rows = None
    for sql, table in steps:
        cursor.execute(sql, params)
        if cursor.description is not None:
            rows = cursor.fetchall()
        if table:
            if connection.vendor != "postgresql":
                cursor.execute(f"CREATE INDEX {table}_id ON {table} (id)")
            cursor.execute(f"ANALYZE {table}")
    return rows


def _apply(run: CheckRun, thresholds: Thresholds, scope: Scope) -> None:
    """The set-based check: a fixed handful of statements whatever the number of rows."""
    params = {
        **rulesql.params(run.as_of, thresholds),
        "run": run.pk,
        "now": timezone.now(),
        "homes": scope.param(),
    }
    days = thresholds.inactivity_days
    by_state = None
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            settings_for_big_statements(cursor)
        if scope.national:
            # What the triggers marked so far; only these rows are deleted at the end, so a
            # mark made while this run works waits for the next run.
            cursor.execute(f"CREATE TEMPORARY TABLE check_pending AS SELECT * FROM {PENDING}")
        counted = _execute(cursor, _account_changes(scope, days), params)
        by_id = False
        if counted is not None:
            by_state = {state: n for state, n, _ in counted}
            changed = sum(n for _, _, n in counted)
            if scope.national and changed > FULL_WHEN_CHANGED * sum(by_state.values()):
                scope.full = True
            by_id = 0 < changed <= BY_ID_WHEN_CHANGED * sum(by_state.values())
            if by_id:
                params["seqscan"] = seqscan_setting(cursor)
        _execute(cursor, _statements(scope, days, by_id), params)
        cursor.execute(
            f"""SELECT
                SUM(CASE WHEN new_state = {rulesql.literal(AccountState.INACTIVE)}
                    AND old_state IS DISTINCT FROM {rulesql.literal(AccountState.INACTIVE)}
                    THEN 1 ELSE 0 END),
                SUM(CASE WHEN new_state = {rulesql.literal(AccountState.ACTIVE)}
                    AND old_state IN ({rulesql.in_list(RECOVERED_FROM)}) THEN 1 ELSE 0 END),
                SUM(CASE WHEN new_state IS DISTINCT FROM old_state THEN 1 ELSE 0 END),
                (SELECT COUNT(*) FROM check_mailbox_changes
                    WHERE new_risk IS DISTINCT FROM old_risk)
            FROM check_account_changes"""
        )
        flagged, recovered, account_events, mailbox_events = cursor.fetchone()
        # (A failed run's tables go with its transaction.)
        if connection.vendor == "postgresql":
            cursor.execute(f"DROP TABLE IF EXISTS {', '.join(TEMP_TABLES)}")
        else:
            for table in TEMP_TABLES:
                cursor.execute(f"DROP TABLE IF EXISTS {table}")
    accounts, mailboxes = StaffAccount.objects.all(), SharedMailbox.objects.all()
    if not scope.national:
        accounts = accounts.filter(home_id__in=scope.home_ids)
        mailboxes = mailboxes.filter(home_id__in=scope.home_ids)
    if by_state is None:
        by_state = dict(accounts.values_list("state").annotate(n=Count("id")).order_by())
    by_risk = dict(mailboxes.values_list("risk").annotate(n=Count("id")).order_by())
    run.full = scope.full
    run.checked = sum(by_state.values())
    run.newly_flagged = flagged or 0
    run.recovered = recovered or 0
    run.events = (account_events or 0) + mailbox_events
    run.accounts_by_state = {s.value: by_state.get(s.value, 0) for s in AccountState}
    run.mailboxes_by_risk = {r.value: by_risk.get(r.value, 0) for r in MailboxRisk}


def _mark_checked(run: CheckRun, scope: Scope) -> None:
    """The homes this run judged now count their figures from its date (a national run
    marks every home in its homes statement, _homes_sql)."""
    if not scope.national:
        homes = CareHome.objects.filter(pk__in=scope.home_ids)
        homes.exclude(checked_as_of=run.as_of).update(checked_as_of=run.as_of)


def run_check(
    as_of: date,
    trigger: str = CheckRun.Trigger.COMMAND,
    home=None,
    home_ids: Iterable[int] | None = None,
    full: bool = False,
) -> CheckRun:
    """Run the check as of a London date and return its run record (ok, failed or skipped).

    Without `home` or `home_ids`, every home (incremental unless `full`). With `home` (one
    CareHome, after a manager's action, recorded on the run) or `home_ids` (after an
    import), only those homes' accounts, mailboxes and ranks, and only their events and
    counts. A scoped run is never skipped because the nightly run is working: it waits for
    it (see the module's notes on locks)."""
    if home is not None:
        home_ids = [home.pk, *(home_ids or [])]
    scope = Scope(home_ids, full)
    run = CheckRun.objects.create(
        as_of=as_of,
        trigger=trigger,
        home=home,
        scope_homes=None if scope.national else len(scope.home_ids),
        full=scope.full,
    )
    thresholds = Thresholds.from_settings()
    try:
        with locked_transaction(scope) as acquired:
            if acquired:
                _apply(run, thresholds, scope)
                _mark_checked(run, scope)
                worklistcounts.changed(scope.home_ids)
                run.outcome = CheckRun.Outcome.OK
            else:
                run.outcome = CheckRun.Outcome.SKIPPED
                run.error = "another national check held the lock"
            run.finished_at = timezone.now()
            run.save()
    except CheckBusy as exc:
        log.warning("check as of %s not run: %s", as_of, exc)
        CheckRun.objects.filter(pk=run.pk).update(
            outcome=CheckRun.Outcome.SKIPPED, error=str(exc), finished_at=timezone.now()
        )
        run.refresh_from_db()
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

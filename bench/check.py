"""Benchmark: the nightly check against the best hand-written SQL for the same result.

    python bench/check.py [--accounts 1500000] [--sqlite]

Builds a national-scale dataset in a database of its own, then measures our check for
(a) a first run (every row changes), (b) the same date again, (c) the next day, each
against a lower bound measured just before it on the same starting state (in a
transaction that is rolled back, then vacuumed away). The last line is one JSON object.
"""

import json
import subprocess
import sys
import time
from datetime import date, timedelta

from _setup import ROOT, parse, peak_rss_mb

args = parse(__doc__, 1_500_000, "carehome_bench_check")

from django.db import connection, transaction
from django.utils import timezone

from accounts.checks import run_check
from accounts.rules import Thresholds
from bench import dataset

AS_OF = date(2026, 11, 29)


def lower_bound_sql(days: int) -> list[str]:
    """The same writes and counts, by hand: compute-and-update in one statement per table
    (PostgreSQL returns the old values through a self-join), events from its RETURNING."""
    activity = "COALESCE(a.last_activity_date, a.first_recorded)"
    state = f"""CASE WHEN a.left_on IS NOT NULL AND a.left_on <= %(as_of)s THEN 'left'
        WHEN a.reported_status = 'deleted' THEN 'deleted'
        WHEN a.reported_status = 'disabled' THEN 'disabled'
        WHEN {activity} <= %(inactive_before)s THEN 'inactive'
        WHEN {activity} <= %(at_risk_before)s THEN 'at_risk' ELSE 'active' END"""
    if connection.vendor == "postgresql":
        disable = f"{activity} + {days}"
        accounts = f"""
            WITH changed AS (
                UPDATE accounts_staffaccount t SET state = n.new_state, disable_date = n.new_disable,
                    state_changed_at = CASE WHEN n.new_state IS DISTINCT FROM n.old_state
                        THEN now() ELSE t.state_changed_at END
                FROM (SELECT a.id, a.state AS old_state, a.disable_date AS old_disable,
                        {state} AS new_state, {disable} AS new_disable
                      FROM accounts_staffaccount a) n
                WHERE t.id = n.id AND (n.new_state IS DISTINCT FROM n.old_state
                    OR n.new_disable IS DISTINCT FROM n.old_disable)
                RETURNING t.id, n.old_state, n.new_state)
            INSERT INTO accounts_statechange (run_id, as_of, account_id, from_value, to_value)
            SELECT %(run)s, %(as_of)s, id, COALESCE(old_state, ''), new_state FROM changed
            WHERE new_state IS DISTINCT FROM old_state"""
        forecast = f"agg.latest + {days}"
        mailboxes = f"""
            WITH agg AS (
                SELECT l.mailbox_id,
                    SUM(CASE WHEN a.state IN ('active', 'at_risk') THEN 1 ELSE 0 END) AS alive,
                    SUM(CASE WHEN a.state IN ('left', 'deleted') THEN 0 ELSE 1 END) AS reachable,
                    MAX(CASE WHEN a.state IN ('active', 'at_risk') THEN {activity} END) AS latest
                FROM accounts_mailboxlink l JOIN accounts_staffaccount a ON a.id = l.account_id
                GROUP BY l.mailbox_id),
            n AS (
                SELECT m.id, m.risk AS old_risk, m.alive_accounts AS old_alive,
                    m.forecast_date AS old_forecast,
                    CASE WHEN COALESCE(agg.reachable, 0) = 0 THEN 'orphaned'
                        WHEN COALESCE(agg.alive, 0) = 0 THEN 'at_risk'
                        WHEN agg.alive = 1 THEN 'single_user' ELSE 'healthy' END AS new_risk,
                    COALESCE(agg.alive, 0) AS new_alive, {forecast} AS new_forecast
                FROM accounts_sharedmailbox m LEFT JOIN agg ON agg.mailbox_id = m.id),
            changed AS (
                UPDATE accounts_sharedmailbox t SET risk = n.new_risk, alive_accounts = n.new_alive,
                    forecast_date = n.new_forecast, checked_at = now()
                FROM n WHERE t.id = n.id AND (n.new_risk IS DISTINCT FROM n.old_risk
                    OR n.new_alive IS DISTINCT FROM n.old_alive
                    OR n.new_forecast IS DISTINCT FROM n.old_forecast)
                RETURNING t.id, n.old_risk, n.new_risk)
            INSERT INTO accounts_statechange (run_id, as_of, mailbox_id, from_value, to_value)
            SELECT %(run)s, %(as_of)s, id, COALESCE(old_risk, ''), new_risk FROM changed
            WHERE new_risk IS DISTINCT FROM old_risk"""
        statements = [accounts, mailboxes]
    else:
        # SQLite has no RETURNING inside a CTE: our own statements are the best it can do.
        from accounts import checks

        statements = [checks._account_sql(days), *checks._statements(days)]
        statements.append("DROP TABLE check_account_changes")
        statements.append("DROP TABLE check_mailbox_changes")
    return [
        *statements,
        "SELECT state, COUNT(*) FROM accounts_staffaccount GROUP BY state",
        "SELECT risk, COUNT(*) FROM accounts_sharedmailbox GROUP BY risk",
    ]


def vacuum() -> None:
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")


def lower_bound(as_of: date) -> float:
    """Hand-written SQL, timed, then rolled back so our check starts from the same state."""
    thresholds = Thresholds.from_settings()
    params = {
        "as_of": as_of,
        "inactive_before": thresholds.inactive_on_or_before(as_of),
        "at_risk_before": thresholds.at_risk_on_or_before(as_of),
        "run": None,
        "now": timezone.now(),
        "home": None,
    }
    from accounts.models import CheckRun

    run = CheckRun.objects.create(as_of=as_of, trigger="command", outcome="skipped")
    params["run"] = run.pk
    start = time.perf_counter()
    with transaction.atomic():
        sid = transaction.savepoint()
        with connection.cursor() as cursor:
            for sql in lower_bound_sql(thresholds.inactivity_days):
                cursor.execute(sql, params)
                if sql.lstrip().startswith("SELECT"):
                    cursor.fetchall()
            if connection.vendor == "postgresql":  # what a commit would check
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        elapsed = time.perf_counter() - start
        transaction.savepoint_rollback(sid)
    run.delete()
    vacuum()
    return elapsed


def ours(as_of: date) -> tuple[float, int, object]:
    statements = []

    def count(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    start = time.perf_counter()
    with connection.execute_wrapper(count):
        run = run_check(as_of)
    elapsed = time.perf_counter() - start
    assert run.outcome == "ok", run.error
    vacuum()
    return elapsed, len(statements), run


built_at = time.perf_counter()
if connection.vendor == "postgresql":
    # Built by a process of its own: the peak memory printed below is our check's alone.
    connection.close()
    made = subprocess.run(
        [sys.executable, "-m", "bench.dataset", str(args.rows), AS_OF.isoformat()],
        check=True, capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    sizes = json.loads(made.stdout.strip().splitlines()[-1])
else:  # an SQLite file is rebuilt in process (a second process would contend for its lock)
    sizes = dataset.build(args.rows, AS_OF)
vacuum()
print(f"dataset: {sizes} in {time.perf_counter() - built_at:.1f} s ({connection.vendor})")

results = {}
statement_counts = set()
for label, as_of in [
    ("first_run", AS_OF),
    ("idempotent", AS_OF),
    ("next_day", AS_OF + timedelta(days=1)),
]:
    bound = lower_bound(as_of)
    elapsed, statements, run = ours(as_of)
    statement_counts.add(statements)
    results[label] = (elapsed, bound)
    print(
        f"{label}: ours {elapsed:.2f} s, lower bound {bound:.2f} s, ratio {elapsed / bound:.2f}; "
        f"{run.events} events, {statements} statements"
    )

summary = {
    "accounts": args.rows,
    "database": connection.vendor,
    "first_run_s": round(results["first_run"][0], 2),
    "idempotent_s": round(results["idempotent"][0], 2),
    "next_day_s": round(results["next_day"][0], 2),
    "ratio_first_run": round(results["first_run"][0] / results["first_run"][1], 2),
    "ratio_idempotent": round(results["idempotent"][0] / results["idempotent"][1], 2),
    "ratio_next_day": round(results["next_day"][0] / results["next_day"][1], 2),
    "statements": max(statement_counts),
    "peak_rss_mb": peak_rss_mb(),
}
print(json.dumps(summary))

"""Benchmark: the nightly check against the best hand-written SQL for the same result, and
against the floor of the hardware.

    python bench/check.py [--accounts 1500000] [--sqlite]

Environment: BENCH_DB names the database; BENCH_CHECK_SETTINGS=off leaves out the check's
SET LOCAL settings and BENCH_FILLFACTOR=N sets the accounts table's fillfactor, to measure
what each buys.

Builds a national-scale dataset in a database of its own, then measures our check for
(a) a first run (every row changes), (b) the same date again, (c) the next day, each
against a lower bound measured just before it on the same starting state (in a
transaction that is rolled back, then vacuumed away), then (d) one home's recheck
(`scoped_ms`, the median of five, each after one account of the largest home changed).
On PostgreSQL the floor is the same hand-written SQL on a bare copy of the data (accounts,
links and mailboxes with primary keys only, an event table with none): the first run and
the next day, committed. The last line is one JSON object.
"""

import json
import os
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta

from _setup import ROOT, parse, peak_rss_mb

args = parse(__doc__, 1_500_000, "carehome_bench_check")

from django.db import connection, transaction
from django.utils import timezone

from accounts import checks, rulesql
from accounts.checks import run_check
from accounts.rules import Thresholds
from bench import dataset

AS_OF = date(2026, 11, 29)
OURS = {
    "accounts": "accounts_staffaccount",
    "links": "accounts_mailboxlink",
    "mailboxes": "accounts_sharedmailbox",
    "changes": "accounts_statechange",
}
BARE = {name: f"floor_{name}" for name in OURS}


def lower_bound_sql(days: int, t: dict = OURS) -> list[str]:
    """The same writes and counts, by hand: compute-and-update in one statement per table
    (PostgreSQL returns the old values through a self-join), events from its RETURNING.
    The rules are rulesql's, as the check's are."""
    activity, state = rulesql.activity("a"), rulesql.account_state("a")
    alive = rulesql.keeps_alive("a.state")
    if connection.vendor == "postgresql":
        disable = rulesql.plus_days("postgresql", activity, days)
        accounts = f"""
            WITH changed AS (
                UPDATE {t["accounts"]} t SET state = n.new_state, disable_date = n.new_disable,
                    state_changed_at = CASE WHEN n.new_state IS DISTINCT FROM n.old_state
                        THEN now() ELSE t.state_changed_at END
                FROM (SELECT a.id, a.state AS old_state, a.disable_date AS old_disable,
                        {state} AS new_state, {disable} AS new_disable
                      FROM {t["accounts"]} a) n
                WHERE t.id = n.id AND (n.new_state IS DISTINCT FROM n.old_state
                    OR n.new_disable IS DISTINCT FROM n.old_disable)
                RETURNING t.id, n.old_state, n.new_state)
            INSERT INTO {t["changes"]} (run_id, as_of, account_id, from_value, to_value)
            SELECT %(run)s, %(as_of)s, id, COALESCE(old_state, ''), new_state FROM changed
            WHERE new_state IS DISTINCT FROM old_state"""
        forecast = rulesql.plus_days("postgresql", "agg.latest", days)
        mailboxes = f"""
            WITH agg AS (
                SELECT l.mailbox_id,
                    SUM(CASE WHEN {alive} THEN 1 ELSE 0 END) AS alive,
                    SUM(CASE WHEN {rulesql.is_gone("a.state")} THEN 0 ELSE 1 END) AS reachable,
                    MAX(CASE WHEN {alive} THEN {activity} END) AS latest
                FROM {t["links"]} l JOIN {t["accounts"]} a ON a.id = l.account_id
                GROUP BY l.mailbox_id),
            n AS (
                SELECT m.id, m.risk AS old_risk, m.alive_accounts AS old_alive,
                    m.forecast_date AS old_forecast,
                    {rulesql.mailbox_risk("agg.alive", "agg.reachable")} AS new_risk,
                    COALESCE(agg.alive, 0) AS new_alive, {forecast} AS new_forecast
                FROM {t["mailboxes"]} m LEFT JOIN agg ON agg.mailbox_id = m.id),
            changed AS (
                UPDATE {t["mailboxes"]} t SET risk = n.new_risk, alive_accounts = n.new_alive,
                    forecast_date = n.new_forecast, checked_at = now()
                FROM n WHERE t.id = n.id AND (n.new_risk IS DISTINCT FROM n.old_risk
                    OR n.new_alive IS DISTINCT FROM n.old_alive
                    OR n.new_forecast IS DISTINCT FROM n.old_forecast)
                RETURNING t.id, n.old_risk, n.new_risk)
            INSERT INTO {t["changes"]} (run_id, as_of, mailbox_id, from_value, to_value)
            SELECT %(run)s, %(as_of)s, id, COALESCE(old_risk, ''), new_risk FROM changed
            WHERE new_risk IS DISTINCT FROM old_risk"""
        statements = [accounts, mailboxes]
    else:
        # SQLite has no RETURNING inside a CTE: our own statements are the best it can do.
        scope = checks.Scope(None, full=True)
        statements = [sql for sql, _ in checks._account_changes(scope, days)]
        statements += [sql for sql, _ in checks._statements(scope, days)][:-1]  # no markers
        statements.append("DROP TABLE check_account_changes")
        statements.append("DROP TABLE check_mailbox_changes")
    return [
        *statements,
        f"SELECT state, COUNT(*) FROM {t['accounts']} GROUP BY state",
        f"SELECT risk, COUNT(*) FROM {t['mailboxes']} GROUP BY risk",
    ]


def vacuum() -> None:
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")


def lower_bound(as_of: date) -> float:
    """Hand-written SQL, timed, then rolled back so our check starts from the same state."""
    thresholds = Thresholds.from_settings()
    params = {**rulesql.params(as_of, thresholds), "run": None, "now": timezone.now()}
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


def floor() -> tuple[float | None, float | None]:
    """The bound's SQL on bare copies (primary keys only): first run, then the next day."""
    if connection.vendor != "postgresql":
        return None, None
    thresholds = Thresholds.from_settings()
    with connection.cursor() as cursor:
        for name, table in OURS.items():
            cursor.execute(f"DROP TABLE IF EXISTS {BARE[name]}")
            if name == "changes":
                cursor.execute(f"""CREATE TABLE {BARE[name]} (id bigserial PRIMARY KEY,
                    run_id integer, as_of date, account_id integer, mailbox_id integer,
                    from_value varchar(12), to_value varchar(12))""")
            else:
                cursor.execute(f"CREATE TABLE {BARE[name]} AS SELECT * FROM {table}")
                cursor.execute(f"ALTER TABLE {BARE[name]} ADD PRIMARY KEY (id)")
    vacuum()
    timings = []
    for as_of in (AS_OF, AS_OF + timedelta(days=1)):
        params = {**rulesql.params(as_of, thresholds), "run": 0, "now": timezone.now()}
        start = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            for sql in lower_bound_sql(thresholds.inactivity_days, BARE):
                cursor.execute(sql, params)
                if sql.lstrip().startswith("SELECT"):
                    cursor.fetchall()
        timings.append(time.perf_counter() - start)
        vacuum()
    with connection.cursor() as cursor:
        for table in BARE.values():
            cursor.execute(f"DROP TABLE {table}")
    vacuum()
    return timings[0], timings[1]


def scoped_ms(as_of: date) -> float:
    """One home's recheck after one of its accounts changed: the median of five, in ms."""
    from accounts.models import CareHome, StaffAccount

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT home_id FROM accounts_staffaccount GROUP BY home_id ORDER BY COUNT(*) DESC "
            "LIMIT 1"
        )
        home = CareHome.objects.get(pk=cursor.fetchone()[0])
    accounts = list(StaffAccount.objects.filter(home=home).values_list("id", flat=True)[:5])
    timings = []
    for n, account in enumerate(accounts):
        StaffAccount.objects.filter(pk=account).update(attested_on=as_of - timedelta(days=n))
        start = time.perf_counter()
        run = run_check(as_of, trigger="action", home=home)
        timings.append(time.perf_counter() - start)
        assert run.outcome == "ok", run.error
    return round(statistics.median(timings) * 1000, 1)


# Variants for measuring what each setting buys (README: "The check at national scale").
if os.environ.get("BENCH_CHECK_SETTINGS") == "off":
    checks.settings_for_big_statements = lambda cursor: None
if os.environ.get("BENCH_FILLFACTOR"):
    with connection.cursor() as cursor:
        fillfactor = int(os.environ["BENCH_FILLFACTOR"])
        cursor.execute(f"ALTER TABLE accounts_staffaccount SET (fillfactor = {fillfactor})")

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

floor_first, floor_next = floor()
if floor_first is not None:
    print(f"floor (bare tables): first run {floor_first:.2f} s, next day {floor_next:.2f} s")

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
        f"{run.events} events, {statements} statements, full={run.full}"
    )
scoped = scoped_ms(AS_OF + timedelta(days=1))
print(f"one home's recheck: {scoped} ms")


def ratio(ours_s: float, floor_s: float | None) -> float | None:
    return None if floor_s is None else round(ours_s / floor_s, 2)


summary = {
    "accounts": args.rows,
    "database": connection.vendor,
    "first_run_s": round(results["first_run"][0], 2),
    "idempotent_s": round(results["idempotent"][0], 2),
    "next_day_s": round(results["next_day"][0], 2),
    "ratio_first_run": round(results["first_run"][0] / results["first_run"][1], 2),
    "ratio_idempotent": round(results["idempotent"][0] / results["idempotent"][1], 2),
    "ratio_next_day": round(results["next_day"][0] / results["next_day"][1], 2),
    "floor_first_run_s": floor_first and round(floor_first, 2),
    "floor_next_day_s": floor_next and round(floor_next, 2),
    "ratio_to_floor_first_run": ratio(results["first_run"][0], floor_first),
    "ratio_to_floor_next_day": ratio(results["next_day"][0], floor_next),
    "scoped_ms": scoped,
    "statements": max(statement_counts),
    "peak_rss_mb": peak_rss_mb(),
}
print(json.dumps(summary))

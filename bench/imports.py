"""Benchmark: importing an NHSmail accounts report against the bare lower bound.

    python bench/imports.py [--rows 100000] [--sqlite]

Generates an accounts CSV (homes and mailboxes already loaded), imports it fresh, then
re-imports it with 5% of rows changed. The lower bound, measured in the same run on the
same starting state and rolled back: COPY of the same file into a bare table plus one
INSERT ... ON CONFLICT DO UPDATE ... WHERE ... IS DISTINCT FROM, with the deferred foreign-key
checks that a commit runs (PostgreSQL only). The bound writes no mailbox links; the import
does. Beside it, floor_s: COPY plus one upsert into a bare table (primary key only), the
floor of the hardware. import_phases_s / reimport_phases_s split the import's time: stage
(read the file, COPY the rows), check (the SQL checks), write, and recheck (the touched
homes' check, run after the commit); what is left is the commit itself (the deferred
foreign-key checks) and the file's checksum. Each measured step starts settled (settle): the
tables vacuumed and analysed, and a checkpoint taken. The last line is one JSON object.
"""

import csv
import json
import random
import time
from datetime import date, timedelta

from _setup import ROOT, parse, peak_rss_mb

args = parse(__doc__, 100_000, "carehome_bench_imports")

from django.db import connection, transaction

from accounts.imports.engine import run_import
from bench.dataset import build

AS_OF = date(2026, 11, 29)
HEADER = ["Email Address", "ODS Code", "Display Name", "Account Status", "Last Logon Time",
          "Created", "Shared Mailboxes"]  # fmt: skip


def write_report(path, rows: int, changed: float, seed: int) -> None:
    """One account per row of the homes built by the dataset, with their mailboxes."""
    rng = random.Random(seed)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT h.ods_code, MIN(m.email) FROM accounts_carehome h "
            "JOIN accounts_sharedmailbox m ON m.home_id = h.id GROUP BY h.ods_code ORDER BY h.ods_code"
        )
        homes = cursor.fetchall()
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for n in range(rows):
            ods, box = homes[n % len(homes)]
            days = n % 200 if rng.random() >= changed else (n % 200) + 1
            last = AS_OF - timedelta(days=days)
            writer.writerow([
                f"import{n}@nhs.net", ods, f"Staff {n}", "active" if n % 17 else "disabled",
                f"{last:%d/%m/%Y} 09:{n % 60:02d}", "", box,
            ])  # fmt: skip


def lower_bound(path) -> float | None:
    if connection.vendor != "postgresql":
        return None
    settle()
    start = time.perf_counter()
    with transaction.atomic():
        sid = transaction.savepoint()
        with connection.cursor() as cursor, path.open(encoding="utf-8") as handle:
            cursor.execute(
                "CREATE TEMP TABLE bare (email text, ods_code text, display_name text, "
                "status text, last_activity text, created text, shared_mailboxes text)"
            )
            cursor.cursor.copy_expert("COPY bare FROM STDIN WITH (FORMAT csv, HEADER true)", handle)
            cursor.execute(
                """INSERT INTO accounts_staffaccount AS t (email, home_id, display_name,
                    reported_status, last_activity, last_activity_date, first_recorded)
                SELECT lower(b.email), h.id, b.display_name, b.status,
                    to_timestamp(b.last_activity, 'DD/MM/YYYY HH24:MI'),
                    to_date(b.last_activity, 'DD/MM/YYYY'), CURRENT_DATE
                FROM bare b JOIN accounts_carehome h ON h.ods_code = b.ods_code
                ON CONFLICT (email) DO UPDATE SET home_id = excluded.home_id,
                    display_name = excluded.display_name,
                    reported_status = excluded.reported_status,
                    last_activity = excluded.last_activity,
                    last_activity_date = excluded.last_activity_date
                WHERE (t.home_id, t.display_name, t.reported_status, t.last_activity)
                    IS DISTINCT FROM (excluded.home_id, excluded.display_name,
                    excluded.reported_status, excluded.last_activity)"""
            )
            # The foreign keys are checked at commit; make the bound pay for them too.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        elapsed = time.perf_counter() - start
        transaction.savepoint_rollback(sid)
    return elapsed


BARE_TARGET = """CREATE TEMP TABLE bare_accounts (email text PRIMARY KEY, home_id integer,
    display_name text, reported_status text, last_activity timestamptz, last_activity_date date,
    first_recorded date)"""


def _copy_upsert(cursor, path) -> None:
    cursor.execute("TRUNCATE bare")
    with path.open(encoding="utf-8") as handle:
        cursor.cursor.copy_expert("COPY bare FROM STDIN WITH (FORMAT csv, HEADER true)", handle)
    cursor.execute(
        """INSERT INTO bare_accounts AS t (email, home_id, display_name, reported_status,
            last_activity, last_activity_date, first_recorded)
        SELECT lower(b.email), h.id, b.display_name, b.status,
            to_timestamp(b.last_activity, 'DD/MM/YYYY HH24:MI'),
            to_date(b.last_activity, 'DD/MM/YYYY'), CURRENT_DATE
        FROM bare b JOIN accounts_carehome h ON h.ods_code = b.ods_code
        ON CONFLICT (email) DO UPDATE SET home_id = excluded.home_id,
            display_name = excluded.display_name, reported_status = excluded.reported_status,
            last_activity = excluded.last_activity,
            last_activity_date = excluded.last_activity_date
        WHERE (t.home_id, t.display_name, t.reported_status, t.last_activity)
            IS DISTINCT FROM (excluded.home_id, excluded.display_name,
            excluded.reported_status, excluded.last_activity)"""
    )


def floor(path, before=None) -> float | None:
    """The floor of the hardware: COPY of the file plus one upsert into a bare table (primary
    key only, no other index, no foreign key, no links); `before` is loaded first, untimed, so
    a re-import's floor starts from the same rows. Rolled back."""
    if connection.vendor != "postgresql":
        return None
    settle()
    with transaction.atomic():
        sid = transaction.savepoint()
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TEMP TABLE bare (email text, ods_code text, display_name text, "
                "status text, last_activity text, created text, shared_mailboxes text)"
            )
            cursor.execute(BARE_TARGET)
            if before is not None:
                _copy_upsert(cursor, before)
            cursor.execute("CHECKPOINT")
            start = time.perf_counter()
            _copy_upsert(cursor, path)
            elapsed = time.perf_counter() - start
        transaction.savepoint_rollback(sid)
    return elapsed


def settle() -> None:
    """Every measured step starts from the same state: the tables vacuumed (a rolled-back
    bound leaves a million dead rows and index entries that the next step's inserts and
    unique checks would wade through) and analysed, and no checkpoint of an earlier step's
    writes still running."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "VACUUM (ANALYZE) accounts_staffaccount, accounts_mailboxlink, "
                "accounts_statechange, accounts_carehome, accounts_sharedmailbox"
            )
            cursor.execute("CHECKPOINT")


def timed_import(path):
    settle()
    start = time.perf_counter()
    result = run_import("accounts", path)
    elapsed = time.perf_counter() - start
    assert result.written and not result.error_count, result.error_lines()[:5]
    return elapsed, result


build(max(args.rows // 40, 1000), AS_OF)  # the homes and mailboxes the report names
first = ROOT / "var" / "bench-accounts.csv"
second = ROOT / "var" / "bench-accounts-changed.csv"
write_report(first, args.rows, 0.0, 1)
write_report(second, args.rows, 0.05, 2)

floor_fresh = floor(first)
floor_again = floor(second, before=first)
bound_fresh = lower_bound(first)
import_s, fresh = timed_import(first)
print(f"import: {import_s:.2f} s ({fresh.created} created), lower bound {bound_fresh}")
bound_again = lower_bound(second)
reimport_s, again = timed_import(second)
print(
    f"re-import: {reimport_s:.2f} s ({again.updated} updated, {again.unchanged} unchanged), lower bound {bound_again}"
)

summary = {
    "rows": args.rows,
    "database": connection.vendor,
    "import_s": round(import_s, 2),
    "reimport_s": round(reimport_s, 2),
    "copy_bound_s": round(bound_fresh, 2) if bound_fresh else None,
    "floor_s": round(floor_fresh, 2) if floor_fresh else None,
    "floor_reimport_s": round(floor_again, 2) if floor_again else None,
    "ratio_import": round(import_s / bound_fresh, 2) if bound_fresh else None,
    "ratio_reimport": round(reimport_s / bound_again, 2) if bound_again else None,
    "ratio_to_floor_import": round(import_s / floor_fresh, 2) if floor_fresh else None,
    "ratio_to_floor_reimport": round(reimport_s / floor_again, 2) if floor_again else None,
    "import_phases_s": {k: round(v, 2) for k, v in fresh.seconds.items()},
    "reimport_phases_s": {k: round(v, 2) for k, v in again.seconds.items()},
    "peak_rss_mb": peak_rss_mb(),
}
print(json.dumps(summary))

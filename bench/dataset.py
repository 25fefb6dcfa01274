"""A national-scale dataset, made in chunks so memory stays flat: homes sized as in life
(most 2 to 15 accounts, a long tail of large ones), one or two shared mailboxes each, and a
mix of reported statuses and last-activity dates (never-used accounts included) so that
every state and every mailbox risk occurs."""

import random
from datetime import date, datetime, time, timedelta

from django.db import connection, transaction

from accounts.imports.bulk import load
from accounts.rules import LONDON


def home_sizes(accounts: int, rng: random.Random) -> list[int]:
    sizes, total = [], 0
    while total < accounts:
        size = rng.randint(80, 400) if rng.random() < 0.12 else rng.randint(2, 15)
        size = min(size, accounts - total)
        sizes.append(size)
        total += size
    return sizes


def _activity(rng: random.Random, as_of: date):
    """(last_activity, last_activity_date, first_recorded) with a realistic spread."""
    first = as_of - timedelta(days=rng.randint(30, 1500))
    roll = rng.random()
    if roll < 0.05:
        return None, None, first
    if roll < 0.60:
        days = rng.randint(0, 59)
    elif roll < 0.78:
        days = rng.randint(60, 89)
    else:
        days = rng.randint(90, 500)
    day = as_of - timedelta(days=days)
    moment = datetime.combine(day, time(rng.randint(7, 22), rng.randint(0, 59)), tzinfo=LONDON)
    return moment.isoformat(), day.isoformat(), first.isoformat()


def build(accounts: int, as_of: date, seed: int = 2026) -> dict:
    with transaction.atomic():  # one commit, not one per row (SQLite)
        return _build(accounts, as_of, seed)


def _build(accounts: int, as_of: date, seed: int) -> dict:
    rng = random.Random(seed)
    sizes = home_sizes(accounts, rng)
    homes = len(sizes)
    load("accounts_region", ["id", "name"], [(r, f"Region {r}") for r in range(1, 43)])
    load(
        "accounts_carehome",
        ["id", "ods_code", "name", "registered_landline", "cqc_location_id", "region_id"],
        (
            (h, f"B{h:05X}"[-6:], f"Care home {h}", f"0116 {h:07d}", f"1-{h:09d}", 1 + h % 42)
            for h in range(1, homes + 1)
        ),
    )
    mailbox_of = {}
    mailbox_rows = []
    next_mailbox = 1
    for h in range(1, homes + 1):
        count = 2 if rng.random() < 0.3 else 1
        mailbox_of[h] = list(range(next_mailbox, next_mailbox + count))
        for m in mailbox_of[h]:
            mailbox_rows.append((m, h, f"shared{m}@nhs.net", f"Home {h} mailbox"))
        next_mailbox += count
    load("accounts_sharedmailbox", ["id", "home_id", "email", "display_name"], mailbox_rows)
    del mailbox_rows

    def account_rows():
        account_id = 0
        for h, size in enumerate(sizes, start=1):
            for _ in range(size):
                account_id += 1
                last, last_on, first = _activity(rng, as_of)
                status_roll = rng.random()
                status = (
                    "disabled"
                    if status_roll < 0.06
                    else "deleted"
                    if status_roll < 0.10
                    else "active"
                )
                left_on = (
                    (as_of - timedelta(days=rng.randint(1, 300))).isoformat()
                    if rng.random() < 0.04
                    else None
                )
                yield (account_id, h, f"user{account_id}@nhs.net", f"Staff {account_id}", status,
                       last, last_on, first, left_on)  # fmt: skip

    def link_rows():
        link_id = 0
        account_id = 0
        for h, size in enumerate(sizes, start=1):
            boxes = mailbox_of[h]
            for _ in range(size):
                account_id += 1
                for n, box in enumerate(boxes):
                    if rng.random() < (0.9 if n == 0 else 0.5):
                        link_id += 1
                        yield (link_id, account_id, box)

    columns = ["id", "home_id", "email", "display_name", "reported_status", "last_activity",
               "last_activity_date", "first_recorded", "left_on"]  # fmt: skip
    load("accounts_staffaccount", columns, account_rows())
    load("accounts_mailboxlink", ["id", "account_id", "mailbox_id"], link_rows())
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for table in ("accounts_region", "accounts_carehome", "accounts_sharedmailbox",
                          "accounts_staffaccount", "accounts_mailboxlink"):  # fmt: skip
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"
                )
        cursor.execute("ANALYZE")
    return {"homes": homes, "mailboxes": next_mailbox - 1, "accounts": accounts}


if __name__ == "__main__":
    # Build in a process of its own (bench/check.py does this) so that the benchmark's own
    # peak memory is the check's, not the generator's.
    import argparse
    import json

    import django

    parser = argparse.ArgumentParser(description="python -m bench.dataset ACCOUNTS AS_OF")
    parser.add_argument("accounts", type=int)
    parser.add_argument("as_of")
    args = parser.parse_args()
    django.setup()
    print(json.dumps(build(args.accounts, date.fromisoformat(args.as_of))))

"""Benchmark: the pages people open every morning, on the national dataset.

    python bench/pages.py [--accounts 1500000] [--sqlite]

Builds the dataset, runs a week of nightly checks (so home pages draw their charts), then
times the admin dashboard (page 1), a filtered dashboard page, a search, a home page, a home
with 5,000 accounts, the worklist (page 1, a page halfway through its people, one region)
and the read API (with a national admin's token: homes, a page of 1000 accounts, a page deep
in the accounts, one home) against a trivial page (the landing page, same signed-in client)
in the same run, through Django's test client (without the test environment's template
instrumentation, which would slow every page). The last line is one JSON object
with p50/p95 per page and each page's p95 as a ratio to the trivial page's, the worklist's
first page right after a write (worklist_after_write_p50_ms: its counts are counted anew),
and the seconds and rows of the whole worklist download (worklist_csv_s,
worklist_csv_rows), which is a file, not a page.
"""

import gc
import json
import statistics
import time
from datetime import date, timedelta

from _setup import parse, peak_rss_mb

args = parse(__doc__, 1_500_000, "carehome_bench_pages")

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.test import Client

from accounts import worklist
from accounts.checks import run_check
from accounts.imports.bulk import load
from accounts.models import CareHome, SharedMailbox, User
from accounts.views import WORKLIST_PAGE
from api import tokens
from bench.dataset import build

AS_OF = date(2026, 11, 29)
REQUESTS = 40

BIG_HOME = 5_000  # accounts in one home: its page must cost about what a small one does
CHECKS = 8  # nightly checks before the pages are timed (dashboard.CHART_MIN_CHECKS and more)


def add_big_home() -> CareHome:
    """One home with BIG_HOME accounts, half of them on its shared mailbox."""
    big = CareHome.objects.create(ods_code="ZZBIG1", name="A very large care home", region_id=1)
    box = SharedMailbox.objects.create(home=big, email="zzbig1.office@nhs.net")
    load(
        "accounts_staffaccount",
        ["home_id", "email", "display_name", "reported_status", "last_activity",
         "last_activity_date", "first_recorded"],
        (
            (big.pk, f"big{n}@nhs.net", f"Big Staff {n}", "active",
             f"{AS_OF - timedelta(days=n % 120)}T09:00:00+00:00", AS_OF - timedelta(days=n % 120),
             AS_OF - timedelta(days=400))
            for n in range(BIG_HOME)
        ),
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO accounts_mailboxlink (account_id, mailbox_id) SELECT id, %s "
            "FROM accounts_staffaccount WHERE home_id = %s AND id %% 2 = 0",
            [box.pk, big.pk],
        )
    return big


# What earlier runs kept (the benchmark's cache is files under var/, its database is new)
# is never read again, but a file cache lists every file on each write (the throttle's).
cache.clear()
sizes = build(args.rows, AS_OF)
big = add_big_home()
for days_ago in range(CHECKS - 1, -1, -1):  # a week of nights: the home page draws its charts
    run_check(AS_OF - timedelta(days=days_ago))
with connection.cursor() as cursor:
    cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")
admin = User.objects.create_user("bench.admin@example.org", "bench-password-123", role="admin")
client = Client(HTTP_HOST="127.0.0.1")
client.force_login(admin)
home = CareHome.objects.order_by("risk_rank", "ods_code").first()
settings.API_THROTTLE_RATE = "1000000/minute"  # measure the API, not its throttle
secret = tokens.issue(admin, name="bench", days=1, actor=None)[1]
api_client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {secret}")
deep = "/api/v1/accounts/?page_size=1000"
for _ in range(min(args.rows // 2000, 200)):  # halfway through the accounts
    deep = api_client.get(deep).json()["next"]
worklist_middle = worklist.rows(admin).count() // WORKLIST_PAGE // 2 + 1
PAGES = {
    "trivial": "/",
    "dashboard": "/dashboard/",
    "dashboard_filtered": "/dashboard/?risk=at_risk&region=3",
    "dashboard_search": f"/dashboard/?q={home.ods_code}",
    "home": f"/homes/{home.ods_code}/",
    "home_5000": f"/homes/{big.ods_code}/",
    "worklist": "/worklist/",
    "worklist_deep": f"/worklist/?page={worklist_middle}",
    "worklist_region": "/worklist/?region=3",
    "api_homes": "/api/v1/homes/",
    "api_accounts_1000": "/api/v1/accounts/?page_size=1000",
    "api_accounts_deep": deep,
    "api_accounts_at_risk": "/api/v1/accounts/?state=at_risk&region=Region%203",
    "api_home": f"/api/v1/homes/{home.ods_code}/",
}


def timings(url: str) -> list[float]:
    client_for = api_client if "/api/" in url else client
    assert client_for.get(url).status_code == 200, url  # warm-up, and a check
    seconds = []
    for _ in range(REQUESTS):
        start = time.perf_counter()
        response = client_for.get(url)
        seconds.append(time.perf_counter() - start)
        assert response.status_code == 200
    return seconds


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


# As gunicorn.conf.py's post_worker_init does in each worker: what was built before the
# pages are served (here the dataset and a week of checks too) leaves the collector's view.
gc.collect()
gc.freeze()
results = {name: timings(url) for name, url in PAGES.items()}
trivial = p95(results["trivial"])
summary = {"accounts": args.rows, "homes": sizes["homes"], "database": connection.vendor}
for name, values in results.items():
    summary[f"{name}_p50_ms"] = round(statistics.median(values) * 1000, 1)
    summary[f"{name}_p95_ms"] = round(p95(values) * 1000, 1)
    if name != "trivial":
        summary[f"{name}_ratio_p95"] = round(p95(values) / trivial, 2)
        print(f"{name}: p95 {p95(values) * 1000:.1f} ms, {p95(values) / trivial:.2f} x trivial")
summary["ratio_p95"] = summary["dashboard_ratio_p95"]
# The worklist right after a write (here one home's recheck, as after a manager's action):
# its counts are counted anew once, for the regions the write touched.
after_write = []
for _ in range(5):
    run_check(AS_OF, home=home)
    start = time.perf_counter()
    assert client.get("/worklist/").status_code == 200
    after_write.append(time.perf_counter() - start)
summary["worklist_after_write_p50_ms"] = round(statistics.median(after_write) * 1000, 1)
start = time.perf_counter()
download = client.get("/worklist.csv")
summary["worklist_csv_rows"] = sum(chunk.count(b"\n") for chunk in download.streaming_content) - 1
summary["worklist_csv_s"] = round(time.perf_counter() - start, 2)
summary["peak_rss_mb"] = peak_rss_mb()
print(json.dumps(summary))

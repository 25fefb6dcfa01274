"""Benchmark: the pages people open every morning, on the national dataset.

    python bench/pages.py [--accounts 1500000] [--sqlite]

Builds the dataset, runs the check, then times the admin dashboard (page 1), a filtered
dashboard page, a home page and the read API (with a national admin's token: homes, a page
of 1000 accounts, a page deep in the accounts, one home) against a trivial page (the landing page, same signed-in
client) in the same run, through Django's test client (without the test environment's template
instrumentation, which would slow every page). The last line is one JSON object
with p50/p95 per page and each page's p95 as a ratio to the trivial page's.
"""

import json
import statistics
import time
from datetime import date

from _setup import parse, peak_rss_mb

args = parse(__doc__, 1_500_000, "carehome_bench_pages")

from django.conf import settings
from django.db import connection
from django.test import Client

from accounts.checks import run_check
from accounts.models import CareHome, User
from api import tokens
from bench.dataset import build

AS_OF = date(2026, 11, 29)
REQUESTS = 40

sizes = build(args.rows, AS_OF)
run_check(AS_OF)
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
PAGES = {
    "trivial": "/",
    "dashboard": "/dashboard/",
    "dashboard_filtered": "/dashboard/?risk=at_risk&region=3",
    "dashboard_search": f"/dashboard/?q={home.ods_code}",
    "home": f"/homes/{home.ods_code}/",
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
summary["peak_rss_mb"] = peak_rss_mb()
print(json.dumps(summary))

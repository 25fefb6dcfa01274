"""A bounded load test: 50 users for 60 seconds against gunicorn on 127.0.0.1 only.

    python bench/load.py [--users 50] [--seconds 60]

Serves the demo data (seed_demo) from PostgreSQL with production settings (over plain HTTP
on loopback), runs locust headless against it, and prints requests, failures (must be 0)
and the 95th percentile as one JSON object on the last line.
"""

import argparse
import csv
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parent.parent
parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--users", type=int, default=50)
parser.add_argument("--seconds", type=int, default=60)
args = parser.parse_args()

with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
host = f"http://127.0.0.1:{port}"
var = ROOT / "var" / "bench-load"
var.mkdir(parents=True, exist_ok=True)
env = {
    **os.environ,
    "DEBUG": "false",
    "SECRET_KEY": "bench-load-" + "x" * 40,
    "ALLOWED_HOSTS": "127.0.0.1",
    "SECURE_SSL_REDIRECT": "false",
    "SECURE_COOKIES": "false",
    "DATABASE_URL": os.environ.get("BENCH_POSTGRES", "postgres://root@127.0.0.1:5432")
    + "/carehome_bench_load",
    "VAR_DIR": str(var),
    "LOG_LEVEL": "WARNING",
    "AXES_FAILURE_LIMIT": "1000",
}
env.pop("REDIS_URL", None)
python = sys.executable
subprocess.run(
    ["dropdb", "-h", "127.0.0.1", "-U", "root", "--if-exists", "carehome_bench_load"], check=True
)
subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "root", "carehome_bench_load"], check=True)
for command in (["migrate", "-v0"], ["collectstatic", "--noinput", "-v0"], ["seed_demo"]):
    subprocess.run(
        [python, "manage.py", *command], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL
    )

server = subprocess.Popen(
    [str(Path(python).parent / "gunicorn"), "carehome_portal.wsgi", "-c", "gunicorn.conf.py",
     "--bind", f"127.0.0.1:{port}", "--workers", "3", "--access-logfile", "/dev/null"],
    cwd=ROOT, env=env,
)  # fmt: skip
try:
    for _ in range(100):
        try:
            if urlopen(host + "/health/").status == 200:  # noqa: S310 - our own server on loopback
                break
        except OSError:
            time.sleep(0.2)
    prefix = var / "locust"
    subprocess.run(
        [str(Path(python).parent / "locust"), "-f", str(ROOT / "bench" / "locustfile.py"),
         "--headless", "-u", str(args.users), "-r", "10", "-t", f"{args.seconds}s",
         "--host", host, "--csv", str(prefix), "--only-summary", "--stop-timeout", "5"],
        cwd=ROOT, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
finally:
    server.terminate()
    server.wait(20)

with open(f"{prefix}_stats.csv", newline="") as handle:
    rows = {row["Name"]: row for row in csv.DictReader(handle)}
total = rows["Aggregated"]
for name, row in rows.items():
    if name != "Aggregated":
        print(f"{row['Type']} {name}: {row['Request Count']} requests, p95 {row['95%']} ms")
summary = {
    "users": args.users,
    "seconds": args.seconds,
    "requests": int(total["Request Count"]),
    "failures": int(total["Failure Count"]),
    "requests_per_s": round(float(total["Requests/s"]), 1),
    "p50_ms": float(total["50%"]),
    "p95_ms": float(total["95%"]),
}
print(json.dumps(summary))
sys.exit(1 if summary["failures"] else 0)

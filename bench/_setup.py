"""Shared start-up for the benchmarks: a database of their own, never the developer's."""

import argparse
import os
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_SERVER = "postgres://root@127.0.0.1:5432"


def parse(description: str, default_rows: int, name: str) -> argparse.Namespace:
    """Arguments, then a fresh database of this benchmark's own (named by `name`)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--accounts", "--rows", dest="rows", type=int, default=default_rows)
    parser.add_argument(
        "--sqlite", action="store_true", help="use a SQLite file under var/ instead of PostgreSQL"
    )
    args = parser.parse_args()
    name = os.environ.get("BENCH_DB", name)  # two people benchmarking at once
    os.environ["DEBUG"] = "true"
    os.environ.pop("REDIS_URL", None)
    if args.sqlite:
        db = ROOT / "var" / f"{name}.sqlite3"
        db.unlink(missing_ok=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{db}"
    else:
        server = os.environ.get("BENCH_POSTGRES", PG_SERVER)
        os.environ["DATABASE_URL"] = f"{server}/{name}"
        subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "root", "--if-exists", name], check=True)
        subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "root", name], check=True)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "carehome_portal.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return args


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)

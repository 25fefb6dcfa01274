"""Lighthouse's accessibility and best-practices scores for the portal's main pages.

`make audit` runs it: a fresh SQLite database with the demo data, the development server on
127.0.0.1 only, a manager signed in through the real sign-in form, then Lighthouse (from
./node_modules) against Debian's Chromium for each page. Reports go to var/audit/; the
scores are printed, and the run fails if a score is below --min (default 90).
"""

import argparse
import http.cookiejar
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "var" / "audit"
LIGHTHOUSE = ROOT / "node_modules" / ".bin" / "lighthouse"
MANAGER = ("manager@demo.example", "demo-manager-pass-2026")
CATEGORIES = ("accessibility", "best-practices")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)  # noqa: S310 - our own server on loopback
            return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"the server did not answer at {url} within {seconds:.0f} s")


def sign_in(base: str) -> tuple[str, str]:
    """The Cookie header of a signed-in manager, and the first home on their dashboard."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(base + "/accounts/login/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode(
        {"csrfmiddlewaretoken": token, "username": MANAGER[0], "password": MANAGER[1]}
    ).encode()
    login = base + "/accounts/login/"
    request = urllib.request.Request(login, data, {"Referer": login})  # noqa: S310 - loopback
    dashboard = opener.open(request).read().decode()
    home = re.search(r'href="(/homes/[A-Z0-9]+/)"', dashboard)
    if home is None:
        raise SystemExit("signing in as the demo manager did not reach a dashboard with homes")
    return "; ".join(f"{c.name}={c.value}" for c in jar), home.group(1)


def lighthouse(url: str, cookie: str, name: str) -> dict:
    report = OUT / f"{name}.json"
    subprocess.run(
        [
            str(LIGHTHOUSE),
            url,
            f"--only-categories={','.join(CATEGORIES)}",
            "--output=json",
            f"--output-path={report}",
            "--quiet",
            "--chrome-flags=--headless=new --no-sandbox --disable-gpu",
            f"--extra-headers={json.dumps({'Cookie': cookie})}",
        ],
        check=True,
        env={**os.environ, "CHROME_PATH": os.environ.get("CHROME_PATH", "/usr/bin/chromium")},
    )
    categories = json.loads(report.read_text())["categories"]
    return {c: round(categories[c]["score"] * 100) for c in CATEGORIES}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min", type=int, default=90, help="lowest score that passes")
    args = parser.parse_args()
    if not LIGHTHOUSE.exists():
        raise SystemExit("Lighthouse is missing: run `make audit`, which installs it")
    OUT.mkdir(parents=True, exist_ok=True)
    database = OUT / "audit.sqlite3"
    database.unlink(missing_ok=True)
    env = {**os.environ, "DEBUG": "true", "DATABASE_URL": f"sqlite:///{database}"}
    python = sys.executable
    for command in (["migrate", "--noinput", "-v0"], ["seed_demo"]):
        subprocess.run([python, "manage.py", *command], cwd=ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [python, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    failures = []
    try:
        wait_for(base + "/health/")
        cookie, home = sign_in(base)
        pages = {
            "landing": "/",
            "guidance": "/guidance/",
            "dashboard": "/dashboard/",
            "home-page": home,
            "helpdesk-card": home.replace("/homes/", "/guidance/card/"),
            "email-preferences": "/email-preferences/",
        }
        print(f"{'page':<20} {'accessibility':>13} {'best-practices':>14}")
        for name, path in pages.items():
            scores = lighthouse(base + path, cookie, name)
            print(f"{name:<20} {scores['accessibility']:>13} {scores['best-practices']:>14}")
            failures += [f"{name} {c} {s}" for c, s in scores.items() if s < args.min]
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"Reports: {OUT}/*.json")
    if failures:
        print("Below", args.min, ":", ", ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

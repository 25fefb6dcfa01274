"""Issue 13, second pass: input that must not take a page down, spreadsheets that cannot be
turned against their readers, abuse limits and records that cannot be left stuck."""

from datetime import timedelta

import pytest
import time_machine
from django.core import signing
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Notification, StaffAccount
from accounts.notify import CHECK_IN_SALT, check_in_token
from tests import test_security
from tests.conftest import PASSWORD, TODAY, make_account
from tests.test_security import every_url

world = test_security.world  # the access matrix's people and homes

# ---------------------------------------------------------------------------------------
# Item 8: a NUL in the address


def with_nul_in_path(url: str) -> str:
    path, _, query = url.partition("?")
    return path.rstrip("/") + "%00/" + (f"?{query}" if query else "")


def test_a_nul_in_the_path_or_query_answers_400_on_every_url(world):
    client = Client()
    client.force_login(world["users"][-1])
    failures = []
    for key, url, _ in every_url(world):
        for bad in [
            with_nul_in_path(url),
            f"{url}?q=%00",
            f"{url}?ods=VM4Q7%00&page=1",
            f"{url}?a%00b=1",
        ]:
            status = client.get(bad).status_code
            if status != 400:
                failures.append(f"{key}: GET {bad} answered {status}")
    assert not failures, "\n".join(failures)


def test_a_nul_in_a_header_answers_400(world):
    client = Client(HTTP_USER_AGENT="scanner\x00")
    assert client.get("/dashboard/").status_code == 400
    wrong = {"username": "admin.1@example.org", "password": "not-the-password"}
    assert client.post(reverse("login"), wrong).status_code == 400


def test_the_bad_request_answer_says_why(client):
    page = client.get("/homes/NB001%00/")
    assert page.status_code == 400
    assert "character that is not allowed" in page.content.decode()


# ---------------------------------------------------------------------------------------
# Item 7: uploads over the limit


class Unreadable:
    """A request body that fails the test if anything reads it."""

    def read(self, *args):
        raise AssertionError("the body was read")

    readline = read


def post_unread(client, url, length):
    return client.generic(
        "POST",
        url,
        CONTENT_TYPE="multipart/form-data; boundary=BoUnDaRy",
        CONTENT_LENGTH=str(length),
        **{"wsgi.input": Unreadable()},
    )


def test_an_upload_over_the_limit_is_refused_by_its_length_before_it_is_read(admin_user, settings):
    settings.IMPORT_UPLOAD_MAX_BYTES = 2 * 1_048_576
    client = Client(enforce_csrf_checks=True)  # as in production: the CSRF check reads POST
    client.force_login(admin_user)
    page = post_unread(client, reverse("import_new"), 5 * 1_048_576)
    assert page.status_code == 413
    body = page.content.decode()
    assert "The file is too large" in body
    assert "What you sent is 5.0 MB; the most this page takes is 2 MB" in body


def test_a_file_just_over_the_limit_gets_the_forms_message(client, admin_user, settings):
    """Within the form's slack the body is read and the form names the limit."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.IMPORT_UPLOAD_MAX_BYTES = 1000
    client.force_login(admin_user)
    upload = SimpleUploadedFile("big.csv", b"email,ods_code\n" + b"x" * 2000)
    page = client.post(reverse("import_new"), {"kind": "accounts", "file": upload})
    assert page.status_code == 200
    assert "the most you can upload is" in page.content.decode()


def test_other_pages_take_small_bodies_only(db):
    """Nobody can make the sign-in page spool a large body to disk."""
    client = Client(enforce_csrf_checks=True)
    assert post_unread(client, reverse("login"), 2 * 1_048_576).status_code == 413
    big_form = {"username": "x@example.org", "password": "p" * (1_048_576 + 10)}
    assert Client().post(reverse("login"), big_form).status_code == 413
    small = Client().post(reverse("login"), {"username": "x@example.org", "password": PASSWORD})
    assert small.status_code == 200


# ---------------------------------------------------------------------------------------
# Item 9: check-in links signed with our key but not made by us


@pytest.fixture
def reminder(rosewood, rosewood_mailbox):
    from accounts.checks import run_check
    from accounts.notify import send_notifications

    make_account(rosewood, "carer@nhs.net", days_ago=83, mailboxes=[rosewood_mailbox])
    run_check(TODAY)
    send_notifications(TODAY, kinds=("reminder",))
    return Notification.objects.get()


def signed(payload) -> str:
    return signing.dumps(payload, salt=CHECK_IN_SALT, compress=True)


def signed_raw(text: str) -> str:
    return signing.TimestampSigner(salt=CHECK_IN_SALT).sign(text)


BAD_PAYLOADS = {
    "list": lambda r: signed(["n", r.pk]),
    "string": lambda r: signed("just a string"),
    "empty": lambda r: signed({}),
    "pk-as-text": lambda r: signed({"n": str(r.pk)}),
    "pk-in-list": lambda r: signed({"n": [r.pk]}),
    "bool": lambda r: signed({"n": True}),
    "huge": lambda r: signed({"n": 10**30}),
    "negative": lambda r: signed({"n": -r.pk}),
    "not-base64": lambda r: signed_raw("!!not-base64!!"),
    "not-zlib": lambda r: signed_raw(".eJwrzs9NLS4GAA"),
    "not-json": lambda r: signed_raw("bm90IGpzb24"),
}


@pytest.mark.parametrize("payload", BAD_PAYLOADS)
def test_a_signed_link_with_a_bad_payload_is_a_clear_page(client, reminder, payload):
    url = reverse("check_in", args=[BAD_PAYLOADS[payload](reminder)])
    for page in (client.get(url), client.post(url, {"choice": "check-in"})):
        assert page.status_code == 400 and "This link does not work" in page.content.decode()
    assert StaffAccount.objects.get().attested_on is None


def test_a_link_dated_in_the_future_does_not_work(client, reminder):
    with time_machine.travel(timezone.now() + timedelta(days=1)):
        token = check_in_token(reminder)
    page = client.post(reverse("check_in", args=[token]), {"choice": "check-in"})
    assert page.status_code == 400 and "This link does not work" in page.content.decode()
    assert StaffAccount.objects.get().attested_on is None
    with time_machine.travel(timezone.now() + timedelta(seconds=60)):
        token = check_in_token(reminder)  # a server's clock a minute ahead is tolerated
    assert client.get(reverse("check_in", args=[token])).status_code == 200


# ---------------------------------------------------------------------------------------
# Item 13: spreadsheets that cannot be turned against their readers

FORMULAS = ['=HYPERLINK("http://evil.example")', "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]


@pytest.fixture
def booby_trapped(rosewood, rosewood_mailbox):
    from accounts.checks import run_check

    rosewood.name = FORMULAS[0]
    rosewood.save()
    rosewood.region.name = FORMULAS[3]
    rosewood.region.save()
    for n, text in enumerate(FORMULAS):
        make_account(rosewood, f"{text[0]}p{n}@nhs.net".strip(), days_ago=n, mailboxes=[])
        StaffAccount.objects.filter(email__endswith=f"p{n}@nhs.net").update(display_name=text)
    StaffAccount.objects.create(home=rosewood, email="=cmd|'/c.calc'!a0@evil.co")
    run_check(TODAY)


def csv_rows(text: str) -> list[list[str]]:
    import csv
    import io

    return list(csv.reader(io.StringIO(text, newline="")))


def csv_cells(text: str) -> list[str]:
    return [cell for row in csv_rows(text) for cell in row]


def assert_defused(cells: list[str]) -> None:
    """No text cell starts a formula; a whole number (-3) is a number, not a formula."""
    dangerous = [
        c
        for c in cells
        if c[:1] in ("=", "+", "-", "@", "\t", "\r") and not c.lstrip("-").isdigit()
    ]
    assert not dangerous, dangerous


def test_no_csv_cell_for_people_starts_a_formula(client, superuser, booby_trapped):
    import io

    from django.core.management import call_command

    client.force_login(superuser)
    files = {
        url: b"".join(client.get(url).streaming_content).decode()
        for url in ["/exports/accounts.csv", "/exports/mailboxes.csv", "/dashboard/homes.csv"]
    }
    for kind in ("accounts", "mailboxes"):
        out = io.StringIO()
        call_command("export_hygiene", kind, "--format", "csv", stdout=out)
        files[f"export_hygiene {kind}"] = out.getvalue()
    for name, text in files.items():
        assert len(csv_rows(text)) == (8 if "accounts" in name else 2), name
        assert_defused(csv_cells(text))
    accounts = csv_cells(files["/exports/accounts.csv"])
    assert "'=cmd|'/c.calc'!a0@evil.co" in accounts
    assert {"'+1+1", "'-2+3", "'@SUM(A1)", "'\tTAB", "'\nCR"} <= set(accounts)
    homes = csv_cells(files["/dashboard/homes.csv"])
    assert '\'=HYPERLINK("http://evil.example")' in homes and "'@SUM(A1)" in homes
    assert "0" in accounts  # numbers are written as they are


def test_json_export_stays_raw(booby_trapped):
    import io
    import json

    from django.core.management import call_command

    out = io.StringIO()
    call_command("export_hygiene", "accounts", "--format", "json", stdout=out)
    names = {row["display_name"] for row in json.loads(out.getvalue())}
    assert set(FORMULAS) <= names


def test_email_goes_only_to_valid_addresses(rosewood, rosewood_mailbox):
    from django.core import mail

    from accounts.checks import run_check
    from accounts.notify import send_notifications

    for email in ["carer@nhs.net", "=cmd|'/c.calc'!a0@evil.co", "not an address", "a@b@nhs.net"]:
        account = make_account(rosewood, "x@x.net", days_ago=83, mailboxes=[rosewood_mailbox])
        StaffAccount.objects.filter(pk=account.pk).update(email=email)
    run_check(TODAY)
    summary = send_notifications(TODAY, kinds=("reminder",))
    assert summary["reminder"] == {"planned": 4, "sent": 1, "failed": 3}
    assert [m.to for m in mail.outbox] == [["carer@nhs.net"]]
    refused = dict(
        Notification.objects.exclude(status="sent").values_list("recipient", "last_error")
    )
    assert refused == {
        "=cmd|'/c.calc'!a0@evil.co": "not sent: \"=cmd|'/c.calc'!a0@evil.co\" starts with '=', "
        "as a formula does",
        "not an address": "not sent: 'not an address' is not a valid email address",
        "a@b@nhs.net": "not sent: 'a@b@nhs.net' is not a valid email address",
    }
    assert set(Notification.objects.exclude(status="sent").values_list("status", flat=True)) == {
        "gave_up"
    }
    again = send_notifications(TODAY, kinds=("reminder",))
    assert again["reminder"] == {"planned": 0, "sent": 0, "failed": 0}  # never retried


# ---------------------------------------------------------------------------------------
# Item 16: nothing personal kept by a cache


def test_every_page_for_someone_signed_in_is_never_stored(world):
    failures = []
    for user in world["users"][1:]:
        client = Client()
        client.force_login(user)
        for key, url, _ in every_url(world):
            response = client.get(url)
            if "no-store" not in response.get("Cache-Control", ""):
                failures.append(f"{user.email} {key}: {response.get('Cache-Control')}")
    assert not failures, "\n".join(failures)


def test_check_in_page_is_never_stored_and_public_pages_may_be(client, reminder):
    page = client.get(reverse("check_in", args=[check_in_token(reminder)]))
    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    for url in ["/", "/guidance/", reverse("guidance:page", args=["keep-your-account-active"])]:
        assert "no-store" not in client.get(url).get("Cache-Control", ""), url


# ---------------------------------------------------------------------------------------
# Item 20: other regions' names


def test_a_region_admin_filters_by_their_own_regions_only(world):
    from accounts.models import Region

    Region.objects.create(name="Cumbria")
    admin_1, admin_all = world["users"][2], world["users"][4]
    client = Client()
    client.force_login(admin_1)
    body = client.get("/dashboard/").content.decode()
    assert ">Leicestershire</option>" in body
    assert "Yorkshire" not in body and "Cumbria" not in body
    client.force_login(admin_all)
    body = client.get("/dashboard/").content.decode()
    for name in ("Leicestershire", "Yorkshire", "Cumbria"):
        assert f">{name}</option>" in body


# ---------------------------------------------------------------------------------------
# Item 19: database connections


def conn_max_age(tmp_path, argv, **env):
    import os
    import subprocess
    import sys

    script = (
        f"import sys; sys.argv = {argv!r}; import django; django.setup(); "
        "from django.conf import settings; print(settings.DATABASES['default']['CONN_MAX_AGE'])"
    )
    environ = {
        **{k: v for k, v in os.environ.items() if k not in ("CONN_MAX_AGE", "DEBUG")},
        "DJANGO_SETTINGS_MODULE": "carehome_portal.settings",
        "DATABASE_URL": "postgres://portal@127.0.0.1:5432/portal",
        "VAR_DIR": str(tmp_path),
        "SECRET_KEY": "x" * 50,
        **env,
    }
    done = subprocess.run(
        [sys.executable, "-c", script], env=environ, capture_output=True, text=True, check=True
    )
    return int(done.stdout.strip().splitlines()[-1])


def test_connections_are_kept_for_gunicorn_but_not_in_development(tmp_path):
    assert conn_max_age(tmp_path, ["gunicorn"], DEBUG="false") == 60
    assert conn_max_age(tmp_path, ["gunicorn"], DEBUG="false", CONN_MAX_AGE="30") == 30
    assert conn_max_age(tmp_path, ["manage.py", "shell"], DEBUG="true") == 0
    runserver = ["manage.py", "runserver"]
    assert conn_max_age(tmp_path, runserver, DEBUG="false", CONN_MAX_AGE="60") == 0


# ---------------------------------------------------------------------------------------
# Item 18: Redis down


@pytest.fixture
def redis_down():
    """The broker pointed at a closed port, as when Redis is stopped."""
    from carehome_portal.celery import app

    def reset_pools():
        app._pool = None
        app.amqp._producer_pool = None

    before = (app.conf.broker_url, app.conf.broker_transport_options)
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    app.conf.broker_transport_options = {"socket_connect_timeout": 1}
    reset_pools()
    yield
    app.conf.broker_url, app.conf.broker_transport_options = before
    reset_pools()


def timed_post(client, url, data=None):
    import time

    started = time.monotonic()
    page = client.post(url, data or {}, follow=True)
    return page, time.monotonic() - started


def test_with_redis_down_queueing_fails_fast_and_audits_only_what_happened(
    client, admin_user, rosewood, settings, redis_down
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from accounts.models import AuditEntry, ImportRecord

    settings.IMPORT_BACKGROUND_BYTES = 10
    client.force_login(admin_user)
    report = SimpleUploadedFile("report.csv", b"email,ods_code\namy@nhs.net,VM4Q7\n")
    token = client.post(reverse("import_new"), {"kind": "accounts", "file": report}).url
    token = token.rstrip("/").split("/")[-1]
    page, seconds = timed_post(client, reverse("import_confirm", args=[token]))
    assert seconds < 2, f"queueing took {seconds:.1f} s"
    assert "The import could not be queued: the task broker is down" in page.content.decode()
    assert not AuditEntry.objects.filter(action="Import").exists()
    assert not ImportRecord.objects.exclude(outcome="dry_run").exists()
    page, seconds = timed_post(client, reverse("run_check_now"))
    assert seconds < 2, f"queueing the check took {seconds:.1f} s"
    assert "the task broker is not reachable" in page.content.decode()
    assert AuditEntry.objects.get(action="Run the check now").detail.startswith("not queued")


# ---------------------------------------------------------------------------------------
# Item 14: per-address limits on sign-in, password reset and check-in


def test_one_address_cannot_try_many_accounts(client, manager):
    """Axes locks one account after 5 wrong passwords; 20 failures across any accounts
    from one address stop that address for the rest of the 15 minutes."""
    for n in range(20):
        page = client.post(reverse("login"), {"username": f"u{n}@example.org", "password": "x"})
        assert page.status_code == 200, n
    right = {"username": manager.email, "password": PASSWORD}
    refused = client.post(reverse("login"), right)
    assert refused.status_code == 429
    assert "Too many attempts from your connection" in refused.content.decode()
    assert 0 < int(refused["Retry-After"]) <= 15 * 60
    assert client.get(reverse("login")).status_code == 200  # the page itself still shows
    assert Client(REMOTE_ADDR="10.1.2.3").post(reverse("login"), right).status_code == 302


def test_signing_in_successfully_does_not_count(client, manager):
    right = {"username": manager.email, "password": PASSWORD}
    for _ in range(25):
        assert Client().post(reverse("login"), right).status_code == 302


def test_one_address_cannot_ask_for_many_password_resets(client, manager, worker_runs_tasks):
    from django.core import mail

    for n in range(10):
        page = client.post(reverse("password_reset"), {"email": f"u{n}@example.org"})
        assert page.status_code == 302, n
    refused = client.post(reverse("password_reset"), {"email": manager.email})
    assert refused.status_code == 429 and mail.outbox == []
    assert "more than 10 password reset requests" in refused.content.decode()


def test_one_address_cannot_guess_check_in_links(client, reminder):
    for n in range(20):
        assert client.get(reverse("check_in", args=[f"guess-{n}"])).status_code == 400
    real = reverse("check_in", args=[check_in_token(reminder)])
    refused = client.post(real, {"choice": "check-in"})
    assert refused.status_code == 429 and "logging in to NHSmail" in refused.content.decode()
    assert StaffAccount.objects.get().attested_on is None
    assert Client(REMOTE_ADDR="10.1.2.3").get(real).status_code == 200


def test_the_limits_are_settings(client, db, settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "sign-in": (2, 60)}
    wrong = {"username": "x@example.org", "password": "x"}
    assert [client.post(reverse("login"), wrong).status_code for _ in range(3)] == [200, 200, 429]


COUNTER = """
import sys
import django

django.setup()
from accounts import throttle

for _ in range(int(sys.argv[3])):
    throttle.count("sign-in", sys.argv[1], now=float(sys.argv[2]))
"""
READER = """
import sys
import django

django.setup()
from django.core.cache import cache
from accounts import throttle

print(cache.get(throttle._key("sign-in", sys.argv[1], float(sys.argv[2]))[0], 0))
"""


@pytest.mark.parametrize("backend", ["files", "redis"])
def test_counts_are_shared_and_exact_across_processes(tmp_path, settings, backend):
    """Four processes count at once on the cache `make run` or production uses: none of
    their 200 attempts is lost."""
    import os
    import subprocess
    import sys
    import uuid

    if backend == "redis" and not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set")
    environ = {**os.environ, "VAR_DIR": str(tmp_path), "DEBUG": "true"}
    if backend == "files":
        environ.pop("REDIS_URL", None)
    address, now = f"192.0.2.{uuid.uuid4().int % 250}-{uuid.uuid4().hex}", "1700000000"
    workers = [
        subprocess.Popen([sys.executable, "-c", COUNTER, address, now, "50"], env=environ)
        for _ in range(4)
    ]
    assert [w.wait(timeout=120) for w in workers] == [0, 0, 0, 0]
    read = subprocess.run(
        [sys.executable, "-c", READER, address, now],
        env=environ, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert read.stdout.strip().splitlines()[-1] == "200"


def test_with_the_cache_down_sign_in_still_works(client, manager, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 1},
        }
    }
    wrong = client.post(reverse("login"), {"username": manager.email, "password": "x"})
    assert wrong.status_code == 200
    right = client.post(reverse("login"), {"username": manager.email, "password": PASSWORD})
    assert right.status_code == 302


# ---------------------------------------------------------------------------------------
# Item 15: password reset takes the same work for every address


def test_password_reset_does_the_same_work_for_known_and_unknown_addresses(manager, monkeypatch):
    from django.core import mail
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.tasks import send_password_reset

    queued = []
    monkeypatch.setattr(send_password_reset, "apply_async", lambda **kw: queued.append(kw))
    work = {}
    for email in (manager.email, "nobody@example.org"):
        with CaptureQueriesContext(connection) as queries:
            page = Client().post(reverse("password_reset"), {"email": email})
        assert page.status_code == 302
        work[email] = [q["sql"].split(" FROM ")[-1][:40] for q in queries.captured_queries]
    assert work[manager.email] == work["nobody@example.org"]
    assert mail.outbox == []  # nothing is sent while the page waits
    assert [q["args"] for q in queued] == [[manager.email], ["nobody@example.org"]]
    assert send_password_reset(manager.email) == 1 and len(mail.outbox) == 1
    assert send_password_reset("nobody@example.org") == 0 and len(mail.outbox) == 1


def test_password_reset_with_the_broker_down_says_so_for_every_address(client, manager, redis_down):
    import re

    pages = [
        client.post(reverse("password_reset"), {"email": email}).content.decode()
        for email in (manager.email, "nobody@example.org")
    ]
    assert "The email cannot be sent just now" in pages[0]
    same = [re.sub(r'name="csrfmiddlewaretoken" value="\w+"', "", page) for page in pages]
    assert same[0] == same[1].replace("nobody@example.org", manager.email)


# ---------------------------------------------------------------------------------------
# Item 17: runs and imports whose process is gone


def test_the_nightly_task_fails_check_runs_whose_process_is_gone(rosewood, monkeypatch):
    from accounts.models import CheckRun
    from accounts.tasks import nightly_check

    monkeypatch.setattr("accounts.tasks.publish", lambda *a, **kw: None)
    # What a check killed with SIGKILL leaves: its run record, still "running".
    killed = CheckRun.objects.create(as_of=TODAY, trigger="beat")
    with time_machine.travel(timezone.now() + timedelta(minutes=80)):
        young = CheckRun.objects.create(as_of=TODAY, trigger="command")
        nightly_check(as_of=TODAY.isoformat())
        killed.refresh_from_db()
        assert killed.outcome == "running"  # 80 minutes: it might still be alive
    with time_machine.travel(timezone.now() + timedelta(minutes=91)):
        summary = nightly_check(as_of=TODAY.isoformat())
    killed.refresh_from_db()
    young.refresh_from_db()
    assert summary["outcome"] == "ok"
    assert killed.outcome == "failed" and "stopped without finishing" in killed.error
    assert killed.finished_at is not None
    assert young.outcome == "running"


@pytest.fixture
def queued_upload(client, admin_user, rosewood, settings, monkeypatch):
    """A large upload confirmed in the portal and queued for the worker (not yet taken)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.IMPORT_BACKGROUND_BYTES = 10
    queued = []
    monkeypatch.setattr("accounts.tasks.import_file.apply_async", lambda **kw: queued.append(kw))
    client.force_login(admin_user)
    report = SimpleUploadedFile("report.csv", b"email,ods_code\namy@nhs.net,VM4Q7\n")
    token = client.post(reverse("import_new"), {"kind": "accounts", "file": report}).url
    token = token.rstrip("/").split("/")[-1]
    progress = client.post(reverse("import_confirm", args=[token])).url
    return {"token": token, "progress": progress, "args": queued[0]["args"]}


def test_a_queued_import_shows_its_state_and_fails_if_no_worker_takes_it(
    client, queued_upload, settings
):
    from accounts.models import ImportRecord
    from accounts.sweeps import sweep_stale_imports

    page = client.get(queued_upload["progress"]).content.decode()
    assert "Waiting for the worker to start the import" in page
    assert "taking longer than it should" not in page
    later = timezone.now() + timedelta(minutes=10)
    with time_machine.travel(later):
        page = client.get(queued_upload["progress"]).content.decode()
    assert "No worker has taken the import" in page and "will be marked as failed" in page
    assert ImportRecord.objects.get(token=queued_upload["token"]).outcome == "queued"  # GET
    with time_machine.travel(timezone.now() + timedelta(minutes=181)):
        assert sweep_stale_imports() == 1
    record = ImportRecord.objects.get(token=queued_upload["token"], outcome="failed")
    assert "no worker took the import in time" in record.errors[0]
    assert not (settings.UPLOAD_DIR / f"{queued_upload['token']}.csv").exists()
    shown = client.get(queued_upload["progress"], follow=True).content.decode()
    assert "Nothing imported" in shown and "Upload the file again" in shown


def test_an_import_whose_worker_died_is_failed_by_the_next_import_task(
    client, queued_upload, settings, monkeypatch
):
    from accounts.imports import web as importweb
    from accounts.models import ImportRecord
    from accounts.tasks import import_file

    def killed(*args, **kwargs):
        raise SystemExit("SIGKILL")

    # The worker takes the import and is killed part way: its record says "running".
    with monkeypatch.context() as patch:
        patch.setattr(importweb, "_run", killed)
        patch.setattr(importweb.Path, "unlink", lambda *a, **kw: None)  # killed: no clean-up
        with pytest.raises(SystemExit):
            import_file(*queued_upload["args"])
    page = client.get(queued_upload["progress"]).content.decode()
    assert "The worker started the import at" in page
    assert "taking longer than it should" not in page
    with time_machine.travel(timezone.now() + timedelta(minutes=40)):
        page = client.get(queued_upload["progress"]).content.decode()
    assert "The worker may have stopped part way" in page
    # Hours later, someone's next large import: its task sweeps first.
    later = settings.UPLOAD_DIR / ("e" * 32 + ".csv")
    later.write_text("email,ods_code\nben@nhs.net,VM4Q7\n")
    with time_machine.travel(timezone.now() + timedelta(minutes=181)):
        admin_id = queued_upload["args"][2]
        assert import_file("accounts", str(later), admin_id, False, "later.csv") is not None
    record = ImportRecord.objects.get(token=queued_upload["token"])
    assert record.outcome == "failed" and "stopped without finishing" in record.errors[0]
    assert not (settings.UPLOAD_DIR / f"{queued_upload['token']}.csv").exists()
    assert list(StaffAccount.objects.values_list("email", flat=True)) == ["ben@nhs.net"]
    # The killed task, delivered again after the sweep, does nothing.
    assert import_file(*queued_upload["args"]) is None
    assert ImportRecord.objects.filter(token=queued_upload["token"]).count() == 1


def test_behind_a_trusted_proxy_the_limit_is_per_client(manager, settings):
    """Every request through a proxy comes from the proxy: the address that counts is the
    one the proxy adds to X-Forwarded-For, and only a trusted proxy is believed."""
    settings.FORWARDED_ALLOW_IPS = ["10.0.0.1"]

    def wrong(n):
        return {"username": f"u{n}@example.org", "password": "x"}

    right = {"username": manager.email, "password": PASSWORD}
    via_proxy = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="spoofed, 198.51.100.7")
    for n in range(20):
        assert via_proxy.post(reverse("login"), wrong(n)).status_code == 200
    assert via_proxy.post(reverse("login"), right).status_code == 429
    colleague = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.8")
    assert colleague.post(reverse("login"), right).status_code == 302
    # Straight from the internet, a client's own X-Forwarded-For changes nothing.
    for n in range(20):
        direct = Client(REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
        assert direct.post(reverse("login"), wrong(n)).status_code == 200
    direct = Client(REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_FOR="192.0.2.99")
    assert direct.post(reverse("login"), right).status_code == 429

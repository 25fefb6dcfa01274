"""Who may see what, sign-in hardening, headers, escaping, and faults."""

import re

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from accounts.checks import run_check
from accounts.models import (
    CareHome,
    ImportRecord,
    MailboxLink,
    SharedMailbox,
    StaffAccount,
    User,
)
from api import tokens
from guidance import pages
from tests.conftest import PASSWORD, TODAY, make_account

# ---------------------------------------------------------------------------------------
# The access matrix: every named URL, for every kind of visitor.

ROLES = ["anonymous", "manager_a", "admin_region_1", "admin_region_2", "admin_all", "superuser"]
SIGN_IN = 302
# name -> status per role, in ROLES order. "A"/"B" variants fill ods_code with home A or B;
# "mine" is an import uploaded by admin_region_1, "cmd" one run from the command line.
EXPECTED = {
    "home": [200, 200, 200, 200, 200, 200],
    "health": [200, 200, 200, 200, 200, 200],
    "guidance:index": [200, 200, 200, 200, 200, 200],
    "guidance:page": [200, 200, 200, 200, 200, 200],
    "login": [200, 200, 200, 200, 200, 200],
    "logout": [405, 405, 405, 405, 405, 405],
    "password_reset": [200, 200, 200, 200, 200, 200],
    "password_reset_done": [200, 200, 200, 200, 200, 200],
    "password_reset_confirm": [200, 200, 200, 200, 200, 200],
    "password_reset_complete": [200, 200, 200, 200, 200, 200],
    "dashboard": [SIGN_IN, 200, 200, 200, 200, 200],
    "dashboard_csv": [SIGN_IN, 404, 200, 200, 200, 200],
    "run_check_now": [SIGN_IN, 405, 405, 405, 405, 405],
    "home_detail A": [SIGN_IN, 200, 200, 404, 200, 200],
    "home_detail B": [SIGN_IN, 404, 404, 200, 200, 200],
    "account_action A": [SIGN_IN, 200, 200, 404, 200, 200],
    "account_action B": [SIGN_IN, 404, 404, 200, 200, 200],
    "guidance:card A": [SIGN_IN, 200, 200, 404, 200, 200],
    "guidance:card B": [SIGN_IN, 404, 404, 200, 200, 200],
    "import_new": [SIGN_IN, 404, 200, 200, 200, 200],
    "import_preview": [SIGN_IN, 404, 404, 404, 404, 404],
    "import_confirm": [SIGN_IN, 404, 405, 405, 405, 405],
    "import_progress": [SIGN_IN, 404, 404, 404, 404, 404],
    "import_record mine": [SIGN_IN, 404, 200, 404, 200, 200],
    "import_record cmd": [SIGN_IN, 404, 404, 404, 200, 200],
    "export_download": [SIGN_IN, 200, 200, 200, 200, 200],
    "worklist": [SIGN_IN, 404, 200, 200, 200, 200],
    "worklist_csv": [SIGN_IN, 404, 200, 200, 200, 200],
    "import_history": [SIGN_IN, 404, 200, 200, 200, 200],
    "check_in": [400, 400, 400, 400, 400, 400],  # a forged token: a clear page, for anyone
    "email_preferences": [SIGN_IN, 200, 200, 200, 200, 200],
    # The read API with the portal session (tests/test_api.py walks it with tokens).
    "api:homes": [401, 200, 200, 200, 200, 200],
    "api:home A": [401, 200, 200, 404, 200, 200],
    "api:home B": [401, 404, 404, 200, 200, 200],
    "api:accounts": [401, 200, 200, 200, 200, 200],
    "api:mailboxes": [401, 200, 200, 200, 200, 200],
    "api:runs": [401, 404, 200, 200, 200, 200],
    "api:worklist": [401, 404, 200, 200, 200, 200],
    "api:schema": [200, 200, 200, 200, 200, 200],
    "api:docs": [200, 200, 200, 200, 200, 200],
    "api:tokens": [SIGN_IN, 200, 200, 200, 200, 200],
    "api:token_revoke token": [SIGN_IN, 405, 405, 405, 405, 405],
}
# The Django admin shows every home's records: superusers and admins who see every home only.
# Every admin here is staff with every view permission, so only the scope decides.
ADMIN = [SIGN_IN, SIGN_IN, SIGN_IN, SIGN_IN, 200, 200]
EXPECTED_ADMIN = {
    "/admin/": ADMIN,
    "/admin/accounts/importrecord/": ADMIN,
    "/admin/accounts/auditentry/": ADMIN,
    "/admin/accounts/statechange/": ADMIN,
    "/admin/accounts/user/": ADMIN,
    "/admin/api/apitoken/": ADMIN,
    "/admin/accounts/carehome/{B}/history/": ADMIN,
    "/admin/accounts/staffaccount/{b}/history/": ADMIN,
}


def named_patterns(resolver=None, prefix=""):
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            if entry.app_name == "admin":
                continue
            namespace = f"{entry.namespace}:" if entry.namespace else ""
            yield from named_patterns(entry, prefix + namespace)
        elif isinstance(entry, URLPattern) and entry.name:
            yield prefix + entry.name, entry


def staff_admin(email, region=None):
    from django.contrib.auth.models import Permission

    user = User.objects.create_user(email, PASSWORD, role="admin", is_staff=True)
    if region:
        user.regions.add(region)
    user.user_permissions.add(*Permission.objects.filter(codename__startswith="view_"))
    return user


@pytest.fixture
def world(db, rosewood, willow):
    """Home A (Rosewood, region 1) and home B (Willow, region 2), with one account each."""
    a = make_account(rosewood, "a@nhs.net", days_ago=1)
    b = make_account(willow, "b@nhs.net", days_ago=1)
    manager = User.objects.create_user("manager.a@example.org", PASSWORD)
    manager.homes.add(rosewood)
    admin_1 = staff_admin("admin.1@example.org", rosewood.region)
    admin_2 = staff_admin("admin.2@example.org", willow.region)
    mine = ImportRecord.objects.create(
        kind="homes", source="web", file_name="mine.csv", outcome="ok", user=admin_1
    )
    cmd = ImportRecord.objects.create(
        kind="homes", source="command", file_name="x.csv", outcome="ok"
    )
    return {
        "users": [
            None,
            manager,
            admin_1,
            admin_2,
            staff_admin("admin.all@example.org"),
            User.objects.create_superuser("su@example.org", PASSWORD),
        ],
        "A": {"ods_code": "VM4Q7", "pk": a.pk},
        "B": {"ods_code": "VN8P2", "pk": b.pk},
        "mine": {"pk": mine.pk},
        "cmd": {"pk": cmd.pk},
        "token": {"pk": tokens.issue(manager, name="bi", days=30, actor=manager)[0].pk},
        "ids": {"B": willow.pk, "b": b.pk},
    }


def url_for(name, pattern, world, variant):
    params = set(pattern.pattern.converters) | set(
        re.findall(r"<(?:\w+:)?(\w+)>", str(pattern.pattern))
    )
    kwargs = {}
    for param in params:
        if param in ("ods_code", "pk") and variant:
            kwargs[param] = world[variant][param]
        else:
            kwargs[param] = {
                "slug": pages.all_pages()[0].slug,
                "action": "left",
                "token": "0" * 32,
                "kind": "accounts",
                "uidb64": "MQ",
            }[param]
    return reverse(name, kwargs=kwargs)


def every_url(world):
    """(key, url, statuses) for every row of the matrix, the admin's included."""
    patterns = dict(named_patterns())
    for key, statuses in EXPECTED.items():
        name, _, variant = key.partition(" ")
        yield key, url_for(name, patterns[name], world, variant), statuses
    for path, statuses in EXPECTED_ADMIN.items():
        yield path, path.format(**world["ids"]), statuses


def test_every_url_is_in_the_matrix(db):
    names = {name for name, _ in named_patterns()}
    covered = {key.split(" ")[0] for key in EXPECTED}
    assert names == covered, f"pages without an access rule: {names - covered}"


def test_access_matrix(world):
    failures, checked = [], 0
    for _, url, statuses in every_url(world):
        for role, user, expected in zip(ROLES, world["users"], statuses, strict=True):
            client = Client()
            if user:
                client.force_login(user)
            status = client.get(url).status_code
            checked += 1
            if status != expected:
                failures.append(f"{role} GET {url}: {status}, expected {expected}")
    assert not failures, "\n".join(failures)
    assert checked == (len(EXPECTED) + len(EXPECTED_ADMIN)) * len(ROLES)


def test_every_admin_page_refuses_a_staff_admin_limited_to_regions(world):
    """Every URL of every model in the admin (lists, add and change forms, change history,
    deletion), not just those in the matrix: a region admin who is staff with every
    permission is sent to the admin sign-in."""
    from django.contrib import admin
    from django.contrib.auth.models import Permission

    admin_1 = world["users"][2]
    admin_1.user_permissions.set(Permission.objects.all())
    client = Client()
    client.force_login(admin_1)
    urls = ["/admin/", "/admin/accounts/", "/admin/password_change/"]
    for model in admin.site._registry:
        info = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        urls.append(reverse(f"{info}_changelist"))
        urls.append(reverse(f"{info}_add"))
        obj = model._default_manager.first()
        if obj is not None:
            for view in ("change", "history", "delete"):
                urls.append(reverse(f"{info}_{view}", args=[obj.pk]))
    assert len(urls) > 40
    refused = [url for url in urls if client.get(url).status_code == 302]
    assert refused == urls


POSTS = [
    ("login", {}, {"username": "x@example.org", "password": "y"}),
    ("logout", {}, {}),
    ("password_reset", {}, {"email": "x@example.org"}),
    ("run_check_now", {}, {}),
    ("import_new", {}, {"kind": "homes"}),
    ("email_preferences", {}, {"digest_opt_out": "on"}),
    ("check_in", {"token": "x"}, {"choice": "stop"}),
    ("account_action", {"ods_code": "VM4Q7", "pk": 0, "action": "left"}, {"on": "01/01/2026"}),
]


@pytest.mark.parametrize("name, kwargs, data", POSTS)
def test_every_post_needs_the_csrf_token(world, name, kwargs, data):
    if "pk" in kwargs:
        kwargs = {**kwargs, "pk": world["A"]["pk"]}
    client = Client(enforce_csrf_checks=True)
    client.force_login(world["users"][4])
    assert client.post(reverse(name, kwargs=kwargs), data).status_code == 403


# ---------------------------------------------------------------------------------------
# The write half: every POST, by every kind of visitor, on a home in and out of their scope.
# "done" answers a redirect and changes only the target (its home's rows, or the visitor's
# own); every other outcome changes nothing at all: "404", "sign-in", "400" (a forged
# check-in link), or "refused" (an import whose rows are line errors).

ACTION_SLUGS = ["left", "removal-requested", "seen-log-in", "link"]
DONE, NOT_FOUND, SIGN_IN_FIRST, REFUSED = "done", "404", "sign-in", "refused"
IN_A = [SIGN_IN_FIRST, DONE, DONE, NOT_FOUND, DONE, DONE]
IN_B = [SIGN_IN_FIRST, NOT_FOUND, NOT_FOUND, DONE, DONE, DONE]
WRITES = {
    **{f"account_action {slug} A": IN_A for slug in ACTION_SLUGS},
    **{f"account_action {slug} B": IN_B for slug in ACTION_SLUGS},
    # Home A's address with home B's account: never, whoever asks.
    **{f"account_action {slug} A/B": [SIGN_IN_FIRST] + [NOT_FOUND] * 5 for slug in ACTION_SLUGS},
    **{f"import {kind} A": [SIGN_IN_FIRST, NOT_FOUND, DONE, REFUSED, DONE, DONE] for kind in
       ("homes", "mailboxes", "accounts")},
    **{f"import {kind} B": [SIGN_IN_FIRST, NOT_FOUND, REFUSED, DONE, DONE, DONE] for kind in
       ("homes", "mailboxes", "accounts")},
    "import_confirm someone else's": [SIGN_IN_FIRST] + [NOT_FOUND] * 5,
    "run_check_now": [SIGN_IN_FIRST, NOT_FOUND, DONE, DONE, DONE, DONE],
    "email_preferences": [SIGN_IN_FIRST, DONE, DONE, DONE, DONE, DONE],
    "check_in A": [DONE] * 6,  # the link is the credential: its own account, nothing else
    "check_in forged": ["400"] * 6,
}  # fmt: skip
IMPORT_FILES = {
    "homes": "ods_code,name\n{ods},Renamed {ods}\n",
    "mailboxes": "ods_code,email\n{ods},new.box.{ods}@nhs.net\n",
    "accounts": "email,ods_code\nnew.{ods}@nhs.net,{ods}\n",
}


# Pages that change nothing whatever the method (a POST to them writes nothing either).
READ_ONLY = {"home", "health", "guidance:index", "guidance:page", "guidance:card", "dashboard",
             "dashboard_csv", "home_detail", "import_preview", "import_progress",
             "import_record", "export_download", "worklist", "worklist_csv",
             "import_history"}  # fmt: skip
SIGN_IN_PAGES = {"login", "logout", "password_reset", "password_reset_done",
                 "password_reset_confirm", "password_reset_complete"}  # fmt: skip
# The read API answers 405 to every write; the token pages write only the visitor's own API
# tokens, never a home's rows (tests/test_api.py covers both).
API_READ_ONLY = {"api:homes", "api:home", "api:accounts", "api:mailboxes", "api:runs",
                 "api:worklist", "api:schema", "api:docs"}  # fmt: skip
OWN_API_TOKENS = {"api:tokens", "api:token_revoke"}


def snapshot():
    """Everything a POST could change, row by row, with the home each row belongs to."""
    rows = {}
    for home in CareHome.objects.values_list("pk", "ods_code", "name", "region_id"):
        rows[("home", home[1])] = (home[0], home)
    for box in SharedMailbox.objects.values_list("email", "home_id", "display_name"):
        rows[("mailbox", box[0])] = (box[1], box)
    fields = ["email", "home_id", "display_name", "reported_status", "left_on", "attested_on",
              "removal_requested_on", "reminders_opt_out", "last_activity"]  # fmt: skip
    for account in StaffAccount.objects.values_list(*fields):
        rows[("account", account[0])] = (account[1], account)
    for link in MailboxLink.objects.values_list("account_id", "mailbox_id", "mailbox__home_id"):
        rows[("link", link[:2])] = (link[2], link)
    for user in User.objects.values_list("email", "digest_opt_out"):
        rows[("user", user[0])] = (None, user)
    return rows


def changed(before, after) -> set:
    """(kind, home id or user email) of every row added, removed or changed."""
    found = set()
    for key in before.keys() | after.keys():
        if before.get(key) != after.get(key):
            home = (before.get(key) or after.get(key))[0]
            found.add((key[0], key[1] if key[0] == "user" else home))
    return found


@pytest.fixture
def write_world(world, rosewood, willow):
    from accounts.models import Notification

    for home, email in ((rosewood, "a.box@nhs.net"), (willow, "b.box@nhs.net")):
        SharedMailbox.objects.create(home=home, email=email)
    reminder = Notification.objects.create(
        kind="reminder", recipient="a@nhs.net", about="x", subject="x",
        account=StaffAccount.objects.get(email="a@nhs.net"),
    )  # fmt: skip
    world["A"]["home"], world["B"]["home"] = rosewood, willow
    world["reminder"] = reminder
    return world


def write_request(key, world, user, client):
    """Make the POST a matrix key names; returns (response, target home id or None)."""
    from accounts.notify import check_in_token

    name, _, rest = key.partition(" ")
    if name == "account_action":
        slug, variant = rest.split(" ")
        home_variant, _, account_variant = variant.partition("/")
        home = world[home_variant]
        account = world[account_variant or home_variant]
        data = {"on": TODAY.strftime("%d/%m/%Y")}
        if slug == "link":
            target = world[account_variant or home_variant]["home"]
            data = {"mailbox": SharedMailbox.objects.get(home=target, email__contains=".box").pk}
        url = reverse("account_action", args=[home["ods_code"], account["pk"], slug])
        return client.post(url, data), world[account_variant or home_variant]["home"].pk
    if name == "import":
        kind, variant = rest.split(" ")
        text = IMPORT_FILES[kind].format(ods=world[variant]["ods_code"])
        upload = client.post(
            reverse("import_new"),
            {"kind": kind, "file": SimpleUploadedFile("f.csv", text.encode(), "text/csv")},
        )
        if upload.status_code != 302 or "/imports/" not in upload.url:
            return upload, None
        client.get(upload.url)
        token = upload.url.rstrip("/").split("/")[-1]
        return client.post(reverse("import_confirm", args=[token])), world[variant]["home"].pk
    if name == "import_confirm":
        return client.post(reverse("import_confirm", args=["ab" * 16])), None
    if name == "check_in":
        token = check_in_token(world["reminder"]) if rest == "A" else "forged-token"
        return client.post(reverse("check_in", args=[token])), world["A"]["home"].pk
    if name == "email_preferences":
        return client.post(reverse(name), {"digest_opt_out": "on"}), None
    return client.post(reverse(name)), None


def test_every_url_is_in_the_write_matrix_or_changes_nothing(db):
    names = {name for name, _ in named_patterns()}
    covered = {key.split(" ")[0] for key in WRITES} - {"import"} | {"import_new"}
    names -= API_READ_ONLY | OWN_API_TOKENS
    assert names - READ_ONLY - SIGN_IN_PAGES == covered, names - READ_ONLY - SIGN_IN_PAGES ^ covered


def test_write_matrix(write_world, settings):
    from django.db import transaction

    from accounts.models import AuditEntry

    settings.CELERY_TASK_ALWAYS_EAGER = False
    failures, checked = [], 0
    for key, outcomes in WRITES.items():
        for role, user, expected in zip(ROLES, write_world["users"], outcomes, strict=True):
            client = Client()
            if user:
                client.force_login(user)
            with transaction.atomic():  # each cell starts from the same world
                before, audits = snapshot(), AuditEntry.objects.count()
                response, target = write_request(key, write_world, user, client)
                after, audited = snapshot(), AuditEntry.objects.count() > audits
                record = ImportRecord.objects.exclude(outcome="dry_run").order_by("-pk").first()
                transaction.set_rollback(True)
            checked += 1
            status = response.status_code
            location = response.get("Location", "")
            diff = changed(before, after)
            if expected == DONE:
                own = {("user", user.email)} if user and key == "email_preferences" else set()
                allowed = {(kind, target) for kind in ("home", "mailbox", "account", "link")}
                done_status = 200 if key.startswith("check_in") else 302  # a page, not a redirect
                ok = status == done_status and "/accounts/login/" not in location
                ok = ok and diff <= allowed | own and (diff or key == "run_check_now")
                ok = ok and (audited or key == "email_preferences")
            elif expected == SIGN_IN_FIRST:
                ok = status == 302 and location.startswith("/accounts/login/") and not diff
            elif expected == REFUSED:
                ok = status == 302 and not diff and record.outcome == "failed"
                ok = ok and "is not one of your homes" in " ".join(record.errors)
            else:
                ok = status == int(expected) and not diff
            if not ok:
                failures.append(f"{role} POST {key}: {status} {location} changed {diff}")
    assert not failures, "\n".join(failures)
    assert checked == len(WRITES) * len(ROLES)


# ---------------------------------------------------------------------------------------
# Sign-in hardening


def test_five_wrong_passwords_lock_the_account_for_this_address(client, manager):
    def sign_in(who, password):
        return who.post(reverse("login"), {"username": manager.email, "password": password})

    for _ in range(4):
        page = sign_in(client, "wrong-password-1")
        assert page.status_code == 200 and "password is not right" in page.content.decode()
    assert sign_in(client, "wrong-password-1").status_code == 429
    locked = sign_in(client, PASSWORD)
    assert locked.status_code == 429
    assert "Sign-in is locked for 15 minutes" in locked.content.decode()
    assert sign_in(Client(REMOTE_ADDR="10.9.8.7"), PASSWORD).status_code == 302


def test_password_reset_by_email_with_an_expiring_one_use_link(
    client, manager, settings, worker_runs_tasks
):
    settings.SITE_URL = "https://portal.example.nhs.uk"
    client.post(reverse("password_reset"), {"email": "JANE.MANAGER@example.org"})
    assert len(mail.outbox) == 1
    link = re.search(
        r"https://portal\.example\.nhs\.uk(/accounts/reset/\S+/)", mail.outbox[0].body
    ).group(1)
    form = client.get(link, follow=True)
    assert "Choose a new password" in form.content.decode()
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "a-brand-new-passphrase", "new_password2": "a-brand-new-passphrase"},
    )
    assert done.status_code == 302
    manager.refresh_from_db()
    assert manager.check_password("a-brand-new-passphrase")
    assert "This link does not work" in client.get(link, follow=True).content.decode()


def test_reset_for_an_unknown_address_says_the_same_and_sends_nothing(
    client, db, worker_runs_tasks
):
    page = client.post(reverse("password_reset"), {"email": "nobody@example.org"}, follow=True)
    assert "Check your email" in page.content.decode()
    assert mail.outbox == []


def test_short_passwords_are_refused(manager):
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="at least 12 characters"):
        validate_password("short-pass1", manager)


# ---------------------------------------------------------------------------------------
# Headers and escaping


@pytest.mark.parametrize(
    "url", ["/", "/guidance/", "/accounts/login/", "/dashboard/", "/homes/VM4Q7/"]
)
def test_html_pages_carry_a_strict_csp_and_frame_denial(client, manager, url):
    client.force_login(manager)
    response = client.get(url)
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


def test_no_inline_script_or_style_in_our_pages(client, manager, rosewood_mailbox):
    client.force_login(manager)
    for url in ["/", "/guidance/", "/dashboard/", "/homes/VM4Q7/", "/guidance/card/VM4Q7/"]:
        body = client.get(url).content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", body), url
        assert "<style" not in body and " style=" not in body, url


def test_crafted_names_show_as_text_everywhere(
    client, admin_user, rosewood, rosewood_mailbox, tmp_path
):
    from django.core.management import call_command

    evil = "<script>alert(1)</script>"
    path = tmp_path / "evil.csv"
    path.write_text(
        f'email,ods_code,display_name,shared_mailboxes\nevil@nhs.net,VM4Q7,"{evil}",rosewood.carehome@nhs.net\n'
    )
    call_command("import_accounts", str(path))
    CareHome.objects.filter(pk=rosewood.pk).update(name=evil)
    run_check(TODAY)
    client.force_login(admin_user)
    for url in ["/dashboard/", "/homes/VM4Q7/", "/dashboard/?q=%3Cscript%3E"]:
        body = client.get(url).content.decode()
        assert evil not in body, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body, url


# ---------------------------------------------------------------------------------------
# Faults


def test_redis_down_pages_work_and_queuing_says_so(client, admin_user, settings):
    from carehome_portal.celery import app

    def reset_pools():
        app._pool = None
        app.amqp._producer_pool = None

    before = (app.conf.broker_url, app.conf.broker_transport_options)
    app.conf.broker_url, app.conf.broker_transport_options = "redis://127.0.0.1:1/0", {}
    reset_pools()
    try:
        client.force_login(admin_user)
        assert client.get("/dashboard/").status_code == 200
        health = client.get("/health/").json()
        assert health["broker"] == "unreachable" and health["database"] == "ok"
        page = client.post(reverse("run_check_now"), follow=True)
        assert "the task broker is not reachable" in page.content.decode()
    finally:
        app.conf.broker_url, app.conf.broker_transport_options = before
        reset_pools()
    from django.core.management import call_command

    call_command("check_inactivity", "--json", stdout=__import__("io").StringIO())


@pytest.mark.django_db(transaction=True)
def test_database_restarted_between_requests(client, manager):
    """When the database drops the portal's connection between two requests, the next
    request reconnects (CONN_HEALTH_CHECKS) instead of failing."""
    import psycopg2
    from django.db import close_old_connections, connection

    if connection.vendor != "postgresql":
        pytest.skip("dropping a server connection is a PostgreSQL matter")
    client.force_login(manager)
    assert client.get("/dashboard/").status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    other = psycopg2.connect(dbname=connection.settings_dict["NAME"], host="127.0.0.1", user="root")
    other.autocommit = True
    other.cursor().execute("SELECT pg_terminate_backend(%s)", [pid])
    other.close()
    # What a server does as each request starts (Django's test client leaves it out).
    close_old_connections()
    assert client.get("/dashboard/").status_code == 200


def test_an_interrupted_import_writes_nothing(rosewood, tmp_path, monkeypatch):
    from django.db import OperationalError

    from accounts.imports import bulk, rawcopy
    from accounts.imports.engine import run_import

    path = tmp_path / "big.csv"
    path.write_text("email,ods_code\n" + "".join(f"p{n}@nhs.net,VM4Q7\n" for n in range(12_000)))
    stream = bulk.stream

    def dies_midway(table, columns, rows):
        """The connection goes while the rows are on their way (one COPY on PostgreSQL,
        chunks of inserts elsewhere)."""

        def rows_then_gone():
            for n, row in enumerate(rows):
                if n == 7_000:
                    raise OperationalError("server closed the connection unexpectedly")
                yield row

        return stream(table, columns, rows_then_gone())

    monkeypatch.setattr(bulk, "stream", dies_midway)
    monkeypatch.setattr(rawcopy, "usable", lambda *args: False)  # the row by row reader
    result = run_import("accounts", path)
    assert not result.written and "the import stopped and wrote nothing" in result.error_lines()[0]
    assert StaffAccount.objects.count() == 0
    assert ImportRecord.objects.get().outcome == "failed"


def test_an_import_interrupted_on_the_raw_path_writes_nothing(rosewood, tmp_path, monkeypatch):
    """PostgreSQL's raw path (rawcopy) sends a file COPY refuses to the row by row reader; a
    connection lost is no such refusal: the import stops, and writes nothing."""
    from django.db import OperationalError, connection

    from accounts.imports import rawcopy
    from accounts.imports.engine import run_import

    if connection.vendor != "postgresql":
        pytest.skip("the raw path is PostgreSQL's")
    path = tmp_path / "big.csv"
    path.write_text("email,ods_code\n" + "".join(f"p{n}@nhs.net,VM4Q7\n" for n in range(12_000)))

    def gone(*args):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(rawcopy, "_read_distinct_cells", gone)
    result = run_import("accounts", path)
    assert not result.written and "the import stopped and wrote nothing" in result.error_lines()[0]
    assert StaffAccount.objects.count() == 0
    assert ImportRecord.objects.get().outcome == "failed"


def test_a_killed_check_is_repaired_by_the_next_run(rosewood, rosewood_mailbox, monkeypatch):
    """A worker killed mid-check leaves the transaction unfinished: the next run gives
    exactly what a clean run gives."""
    from accounts import checks

    for n in range(30):
        make_account(rosewood, f"p{n}@nhs.net", days_ago=n * 5, mailboxes=[rosewood_mailbox])
    statements = checks._statements
    monkeypatch.setattr(
        checks,
        "_statements",
        lambda *args: statements(*args)[:2] + ["SELECT 1/0 FROM no_table"],
    )
    with pytest.raises(Exception):  # noqa: B017 - any death will do
        run_check(TODAY)
    monkeypatch.setattr(checks, "_statements", statements)
    run_check(TODAY)
    after_crash = list(StaffAccount.objects.order_by("id").values_list("state", "disable_date"))
    risk = SharedMailbox.objects.get().risk
    StaffAccount.objects.update(state=None, disable_date=None)
    SharedMailbox.objects.update(risk=None, alive_accounts=None, forecast_date=None)
    run_check(TODAY)
    assert (
        list(StaffAccount.objects.order_by("id").values_list("state", "disable_date"))
        == after_crash
    )
    assert SharedMailbox.objects.get().risk == risk

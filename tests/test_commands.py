import io
import os
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import CareHome, SharedMailbox, StaffAccount, User
from tests.conftest import PASSWORD


def add_user(*args, stdin=None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    out = io.StringIO()
    call_command("add_portal_user", *args, stdout=out)
    return out.getvalue()


def test_add_manager_with_homes_and_password(rosewood, willow, monkeypatch):
    out = add_user(
        "Jo.Manager@Example.org",
        "--role",
        "manager",
        "--home",
        "vm4q7",
        "--home",
        "VN8P2",
        "--password-stdin",
        stdin=PASSWORD + "\n",
        monkeypatch=monkeypatch,
    )
    user = User.objects.get()
    assert user.email == "jo.manager@example.org"
    assert user.check_password(PASSWORD)
    assert set(user.homes.values_list("ods_code", flat=True)) == {"VM4Q7", "VN8P2"}
    assert "Created jo.manager@example.org (manager)" in out


def test_running_again_updates_the_same_user(rosewood):
    add_user("jo@example.org", "--role", "manager")
    out = add_user("JO@example.org", "--role", "admin", "--home", "VM4Q7")
    assert User.objects.count() == 1
    assert User.objects.get().role == "admin"
    assert out.startswith("Updated jo@example.org (admin)")


def test_admin_limited_to_a_region(rosewood):
    add_user("ravi@example.org", "--role", "admin", "--region", "leicestershire")
    assert list(User.objects.get().regions.values_list("name", flat=True)) == ["Leicestershire"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["jo@example.org", "--role", "boss"], "--role: 'boss' is not a role"),
        (
            ["jo@example.org", "--role", "manager", "--home", "XX999"],
            "no care home with ODS code XX999",
        ),
        (["not-an-email", "--role", "manager"], "is not a valid email address"),
        (["jo@example.org", "--role", "admin", "--region", "Mars"], "no region named 'Mars'"),
    ],
)
def test_bad_input_is_a_clear_error_and_writes_nothing(rosewood, args, message):
    with pytest.raises(CommandError, match=message):
        add_user(*args)
    assert not User.objects.exists()


def test_weak_password_is_refused(db, monkeypatch):
    with pytest.raises(CommandError, match="password: .*too short"):
        add_user(
            "jo@example.org",
            "--role",
            "manager",
            "--password-stdin",
            stdin="short\n",
            monkeypatch=monkeypatch,
        )
    assert not User.objects.exists()


def row_counts():
    return [m.objects.count() for m in (CareHome, SharedMailbox, StaffAccount, User)]


def test_seed_demo_twice_gives_the_same_rows(db):
    call_command("seed_demo", stdout=io.StringIO())
    counts = row_counts()
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    assert counts == row_counts()
    assert counts[0] == 10 and counts[2] >= 40 and counts[3] == 3
    assert set(StaffAccount.objects.values_list("state", flat=True)) == {
        "active",
        "at_risk",
        "inactive",
        "disabled",
        "deleted",
        "left",
    }
    assert set(SharedMailbox.objects.values_list("risk", flat=True)) == {
        "orphaned",
        "at_risk",
        "single_user",
        "healthy",
    }
    assert "sign in as manager@demo.example" in out.getvalue()
    manager = User.objects.get(email="manager@demo.example")
    assert manager.homes.count() == 4


def clean_environ() -> dict:
    """The environment a deployment has: nothing the test run itself set."""
    return {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    env = {
        **clean_environ(),
        "DEBUG": "false",
        "SECRET_KEY": "x" * 20 + "production-like-secret-key-for-the-check-0123456789",
        "ALLOWED_HOSTS": "portal.example.nhs.uk",
        "VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "System check identified no issues" in result.stdout


def test_production_without_secret_key_fails_loudly(tmp_path):
    env = {k: v for k, v in clean_environ().items() if k != "SECRET_KEY"}
    env.update(DEBUG="false", VAR_DIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_warning_threshold_must_be_below_inactivity(tmp_path):
    env = {
        **clean_environ(),
        "DEBUG": "true",
        "WARNING_DAYS": "90",
        "INACTIVITY_DAYS": "90",
        "VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "WARNING_DAYS (90) must be above 0 and below INACTIVITY_DAYS (90)" in result.stderr


def test_a_gunicorn_worker_freezes_what_it_loaded():
    """gunicorn.conf.py: after loading the portal, each worker takes its long-lived objects
    out of the garbage collector's full collections (README, "Pages at scale")."""
    import gc
    import runpy
    from pathlib import Path

    conf = runpy.run_path(str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py"))
    assert gc.get_freeze_count() == 0
    try:
        conf["post_worker_init"](worker=None)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()

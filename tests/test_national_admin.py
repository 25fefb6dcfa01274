"""An admin for every region runs and schedules the nightly check in /admin/."""

import io

from django.core.management import call_command

from accounts.models import User


def sign_in(client, email):
    client.force_login(User.objects.get(email=email))


def test_an_admin_without_regions_opens_the_runs_and_the_schedule(client, db, midlands):
    call_command("add_portal_user", "nia@example.org", "--role", "admin", stdout=io.StringIO())
    sign_in(client, "nia@example.org")
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/accounts/checkrun/").status_code == 200
    assert client.get("/admin/django_celery_beat/periodictask/").status_code == 200
    from django_celery_beat.models import PeriodicTask

    nightly = PeriodicTask.objects.get(name="Nightly inactivity check")
    crontab = f"/admin/django_celery_beat/crontabschedule/{nightly.crontab_id}/change/"
    assert client.get(crontab).status_code == 200  # when it runs: theirs to change
    # Which task runs, with which arguments, is not: a task can take a user and a path.
    assert client.get("/admin/django_celery_beat/periodictask/add/").status_code == 403
    # Reading records is not changing people: no user editing.
    assert client.get("/admin/accounts/user/add/").status_code == 403
    # Limited to a region, the same sign-in loses /admin/ at once.
    User.objects.get(email="nia@example.org").regions.add(midlands)
    assert client.get("/admin/").status_code == 302


def test_a_manager_never_opens_the_admin(client, manager):
    client.force_login(manager)
    assert client.get("/admin/").status_code == 302
    assert client.get("/admin/django_celery_beat/periodictask/").status_code == 302


def test_seed_demo_creates_and_prints_a_national_admin(client, db):
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    text = out.getvalue()
    assert "sign in as national.admin@demo.example with password demo-national-pass-2026" in text
    assert "(a regional admin)" in text
    national = User.objects.get(email="national.admin@demo.example")
    assert national.is_admin and national.sees_every_home
    assert not User.objects.get(email="admin@demo.example").sees_every_home
    client.force_login(national)
    assert client.get("/admin/django_celery_beat/periodictask/").status_code == 200


def test_a_national_admin_edits_times_but_not_which_task_runs(db):
    from accounts.adminperms import NationalAdminBackend
    from accounts.models import User

    admin = User.objects.create_user("everywhere@example.org", role="admin")
    backend = NationalAdminBackend()
    assert backend.has_perm(admin, "django_celery_beat.change_crontabschedule")
    assert backend.has_perm(admin, "django_celery_beat.view_periodictask")
    for perm in ("add_periodictask", "change_periodictask", "delete_periodictask"):
        assert not backend.has_perm(admin, f"django_celery_beat.{perm}")


def test_a_task_cannot_be_pointed_at_a_file_that_is_no_upload(db, tmp_path, superuser):
    import pytest

    from accounts.imports.web import check_upload, import_upload

    victim = tmp_path / "precious.csv"
    victim.write_text("email,ods_code\n")
    with pytest.raises(ValueError, match="is not an upload"):
        import_upload("accounts", str(victim), superuser.pk, True, "f.csv")
    with pytest.raises(ValueError, match="is not an upload"):
        check_upload("accounts", str(victim), superuser.pk, "f.csv")
    assert victim.exists()

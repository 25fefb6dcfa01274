"""What an admin for every region may do in /admin/ (accounts/adminsite.py opens it to
them): permissions that follow the scope rather than being stored."""

from django.contrib.auth.backends import BaseBackend

# What an admin for every region may do in /admin/ without being given it one by one: read
# every record, and run and schedule the nightly check (the design's "runs and schedules").
NATIONAL_ADMIN_APPS = ("accounts", "django_celery_beat")
# Editing the schedule means changing when the tasks run: the times, never which task a
# schedule runs or its arguments (a task such as import_file takes a user and a path).
SCHEDULE_EDITS = {
    "django_celery_beat.change_crontabschedule",
    "django_celery_beat.change_intervalschedule",
}


def is_national_admin(user) -> bool:
    return user.is_active and user.is_authenticated and user.is_admin and user.sees_every_home


class NationalAdminBackend(BaseBackend):
    """Permissions that follow the scope: an admin not limited to regions may view every
    record and edit the schedule. Limit them to a region and these go at once; nothing is
    stored. Signs nobody in."""

    def has_perm(self, user_obj, perm, obj=None):
        if not is_national_admin(user_obj):
            return False
        app, _, codename = perm.partition(".")
        if app not in NATIONAL_ADMIN_APPS:
            return False
        return codename.startswith("view_") or perm in SCHEDULE_EDITS

    def has_module_perms(self, user_obj, app_label):
        return is_national_admin(user_obj) and app_label in NATIONAL_ADMIN_APPS

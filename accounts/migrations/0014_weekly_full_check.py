"""The weekly full check: every mailbox and home recomputed, Sundays at 04:00 London time
(after that night's 02:30 check, so a full run for the same date finds nothing the
incremental one missed). Editable in the admin without a deploy."""

from django.db import migrations

NAME = "Weekly full inactivity check"


def create_schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="0",
        hour="4",
        day_of_week="0",
        day_of_month="*",
        month_of_year="*",
        timezone="Europe/London",
    )
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={
            "task": "accounts.tasks.nightly_check",
            "crontab": crontab,
            "kwargs": '{"trigger": "beat", "full": true}',
            "enabled": True,
        },
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0013_check_scope_leavers_pending"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]

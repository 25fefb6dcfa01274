"""Dates no account can have (before 1990, or after tomorrow) that reached the database
before they were refused at every door: cleared, so that no page or export breaks on them
(a year-9999 activity made the check write a disable date in year 10000). The next check
judges the accounts again."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import migrations
from django.db.models import Q

EARLIEST = date(1990, 1, 1)


def clear(apps, schema_editor):
    Account = apps.get_model("accounts", "StaffAccount")
    latest = datetime.now(ZoneInfo("Europe/London")).date() + timedelta(days=1)

    def bad(field):
        return Q(**{f"{field}__lt": EARLIEST}) | Q(**{f"{field}__gt": latest})

    touched = set()
    for field in ("last_activity_date", "attested_on", "left_on", "removal_requested_on"):
        ids = list(Account.objects.filter(bad(field)).values_list("pk", flat=True))
        extra = {"last_activity": None} if field == "last_activity_date" else {}
        Account.objects.filter(pk__in=ids).update(**{field: None}, **extra)
        touched.update(ids)
    ids = list(Account.objects.filter(bad("first_recorded")).values_list("pk", flat=True))
    Account.objects.filter(pk__in=ids).update(first_recorded=min(latest, date.today()))
    touched.update(ids)
    beyond = latest + timedelta(days=3650)
    touched.update(Account.objects.filter(disable_date__gt=beyond).values_list("pk", flat=True))
    Account.objects.filter(pk__in=touched).update(state=None, disable_date=None)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0021_plausible_dates")]

    operations = [migrations.RunPython(clear, migrations.RunPython.noop)]

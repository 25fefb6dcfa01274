"""Realistic demo data for `make run`: safe to run again (rows are matched by natural key)."""

import random
from datetime import datetime, time, timedelta

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.checks import run_check
from accounts.models import (
    CareHome,
    CheckRun,
    MailboxLink,
    Region,
    SharedMailbox,
    StaffAccount,
    User,
)
from accounts.rules import LONDON, ReportedStatus, london_today

DEMO_PASSWORDS = {
    "manager@demo.example": "demo-manager-pass-2026",
    "admin@demo.example": "demo-admin-pass-2026",
    "national.admin@demo.example": "demo-national-pass-2026",
}
# What each demo sign-in is, as printed.
DEMO_ROLES = {
    "manager@demo.example": "a manager of four homes",
    "admin@demo.example": "a regional admin",
    "national.admin@demo.example": "an admin for every region, who can also open /admin/",
}
FIRST = [
    "Amara",
    "Ben",
    "Chloe",
    "Daniel",
    "Ewa",
    "Farah",
    "George",
    "Hannah",
    "Imran",
    "Joy",
    "Kofi",
    "Lena",
    "Mo",
    "Nia",
    "Owen",
    "Priya",
]
LAST = [
    "Adeyemi",
    "Brown",
    "Clarke",
    "Dos-Santos",
    "Evans",
    "Fletcher",
    "Green",
    "Hughes",
    "Iqbal",
    "Jones",
    "Kowalski",
    "Patel",
]

# (ODS code, name, landline, the mix of linked staff: days since last log-in, or a status)
HOMES = [
    ("VN3K7", "Abbeyfield House", "0116 496 0101", [3, 10, 25, 41]),
    ("VQ8L2", "Beech Lodge Care Home", "0116 496 0102", [1, 64, "left", 120]),
    ("VR2M9", "Cedar Grange Nursing Home", "0116 496 0103", [72, 95, "disabled"]),
    ("VS5P4", "Dovecote Residential Home", "0116 496 0104", ["left", "deleted"]),
    ("VT7Q1", "Elm Bank Care Centre", "0116 496 0105", [5, 7, 12, 33, 61, 88, 93, 140]),
    ("VW1R6", "Foxglove Court", "0116 496 0106", [45, 150, "deleted"]),
    ("VX4S3", "Greenacres Care Home", "0116 496 0107", [91, 180, None]),
    ("VY6T8", "Hollybrook Manor", "0116 496 0108", [2, "left", 15, 59, 60]),
    ("VZ9V5", "Ivy House Nursing Home", "0116 496 0109", [89, 30, "disabled", "left"]),
    ("VA2W7", "Juniper Gardens", "0116 496 0110", [8, 22, 36, 50, 66, 101, 10]),
]


class Command(BaseCommand):
    help = "Load realistic demo homes, mailboxes, staff accounts and three sign-ins (idempotent)."

    def handle(self, *args, **options):
        today = london_today()
        rng = random.Random(2026)
        with transaction.atomic():
            region, _ = Region.objects.get_or_create(name="Leicester, Leicestershire and Rutland")
            for index, (ods, name, landline, mix) in enumerate(HOMES):
                home, _ = CareHome.objects.update_or_create(
                    ods_code=ods,
                    defaults={
                        "name": name,
                        "registered_landline": landline,
                        "cqc_location_id": f"1-{100000000 + index * 7919}",
                        "region": region,
                    },
                )
                slug = name.lower().split()[0]
                mailbox, _ = SharedMailbox.objects.update_or_create(
                    email=f"{slug}.carehome@nhs.net",
                    defaults={"home": home, "display_name": f"{name} shared mailbox"},
                )
                for n, entry in enumerate(mix):
                    person = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
                    account = self._account(home, slug, n, person, entry, today)
                    MailboxLink.objects.get_or_create(account=account, mailbox=mailbox)
            manager = self._user("manager@demo.example", "Sam Manager", User.Role.MANAGER)
            manager.homes.set(CareHome.objects.filter(ods_code__in=[h[0] for h in HOMES[:4]]))
            regional = self._user("admin@demo.example", "Ravi Admin", User.Role.ADMIN)
            regional.regions.set([region])
            national = self._user("national.admin@demo.example", "Nia National", User.Role.ADMIN)
            national.regions.clear()
        run = run_check(today, trigger=CheckRun.Trigger.COMMAND)
        self.stdout.write(
            f"Demo data ready: {len(HOMES)} homes, {StaffAccount.objects.count()} accounts, "
            f"check as of {run.as_of}: {run.outcome}."
        )
        for email, password in DEMO_PASSWORDS.items():
            self.stdout.write(
                f"  sign in as {email} with password {password} ({DEMO_ROLES[email]})"
            )

    def _account(self, home, slug, n, person, entry, today):
        status, left_on, last_activity = ReportedStatus.ACTIVE, None, None
        if entry in ReportedStatus.values:
            status, last_activity = entry, today - timedelta(days=100 + n)
        elif entry == "left":
            left_on, last_activity = today - timedelta(days=20), today - timedelta(days=25)
        elif entry is not None:
            last_activity = today - timedelta(days=entry)
        account, _ = StaffAccount.objects.update_or_create(
            email=f"{person.lower().replace(' ', '.')}.{slug}{n}@nhs.net",
            defaults={
                "home": home,
                "display_name": person,
                "reported_status": status,
                "left_on": left_on,
                "first_recorded": today - timedelta(days=200),
                "last_activity": last_activity
                and datetime.combine(last_activity, time(9, 30), tzinfo=LONDON),
            },
        )
        return account

    def _user(self, email, name, role):
        user, _ = User.objects.update_or_create(
            email=email, defaults={"full_name": name, "role": role}
        )
        user.set_password(DEMO_PASSWORDS[email])
        user.save()
        return user

import getpass
import sys

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import transaction

from accounts.models import CareHome, Region, User
from accounts.rules import normalise_email, normalise_ods_code


class Command(BaseCommand):
    help = "Create or update a portal sign-in. Managers see only their homes; admins see all."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--role", required=True, help="manager or admin")
        parser.add_argument("--home", action="append", default=[], metavar="ODS")
        parser.add_argument(
            "--region", action="append", default=[], metavar="NAME", help="limit an admin"
        )
        parser.add_argument("--name", default=None, help="the person's full name")
        parser.add_argument("--password-stdin", action="store_true")

    def handle(self, *args, **options):
        email = normalise_email(options["email"])
        try:
            validate_email(email)
        except ValidationError:
            raise CommandError(
                f"EMAIL: {options['email']!r} is not a valid email address."
            ) from None
        role = options["role"].strip().lower()
        if role not in User.Role.values:
            raise CommandError(f"--role: {options['role']!r} is not a role; use manager or admin.")
        homes = self._homes(options["home"])
        regions = self._regions(options["region"])
        user = User.objects.filter(email=email).first() or User(email=email)
        password = self._password(options["password_stdin"], user)
        created = user.pk is None
        with transaction.atomic():
            user.role = role
            if options["name"] is not None:
                user.full_name = options["name"]
            if password is not None:
                user.set_password(password)
            elif user.pk is None:
                user.set_unusable_password()
            user.save()
            if options["home"]:
                user.homes.add(*homes)
            if options["region"]:
                user.regions.set(regions)
        codes = ", ".join(user.homes.values_list("ods_code", flat=True)) or "none"
        self.stdout.write(
            f"{'Created' if created else 'Updated'} {user.email} ({role}), homes: {codes}"
        )

    def _homes(self, codes):
        codes = [normalise_ods_code(c) for c in codes]
        homes = {h.ods_code: h for h in CareHome.objects.filter(ods_code__in=codes)}
        unknown = [c for c in codes if c not in homes]
        if unknown:
            raise CommandError(f"--home: no care home with ODS code {', '.join(unknown)}.")
        return list(homes.values())

    def _regions(self, names):
        regions = {r.name.lower(): r for r in Region.objects.all()}
        unknown = [n for n in names if n.strip().lower() not in regions]
        if unknown:
            raise CommandError(f"--region: no region named {', '.join(map(repr, unknown))}.")
        return [regions[n.strip().lower()] for n in names]

    def _password(self, from_stdin: bool, user: User):
        if not from_stdin:
            return None
        password = (
            sys.stdin.readline().rstrip("\r\n") if not sys.stdin.isatty() else getpass.getpass()
        )
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise CommandError("password: " + " ".join(exc.messages)) from None
        return password

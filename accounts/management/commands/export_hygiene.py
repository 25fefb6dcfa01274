from django.core.management.base import BaseCommand, CommandError

from accounts import exports
from accounts.models import CareHome
from accounts.rules import normalise_ods_code


class Command(BaseCommand):
    help = "Print the result of the last check (accounts or mailboxes) as CSV or JSON."

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=sorted(exports.KINDS))
        parser.add_argument("--ods", action="append", default=[], help="limit to this home")
        parser.add_argument("--format", choices=["csv", "json"], default="csv")

    def handle(self, *args, **options):
        homes = CareHome.objects.all()
        if options["ods"]:
            codes = [normalise_ods_code(c) for c in options["ods"]]
            unknown = sorted(
                set(codes)
                - set(homes.filter(ods_code__in=codes).values_list("ods_code", flat=True))
            )
            if unknown:
                raise CommandError(f"--ods: no care home with ODS code {', '.join(unknown)}.")
            homes = homes.filter(ods_code__in=codes)
        rows = exports.rows_for(options["kind"], homes)
        if options["format"] == "json":
            exports.write_json(rows, self.stdout)
        else:
            exports.write_csv(options["kind"], rows, self.stdout)

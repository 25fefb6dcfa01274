import json
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from accounts.checks import run_check
from accounts.models import CheckRun
from accounts.rules import london_today


def parse_as_of(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--as-of: {value!r} is not a date in the form YYYY-MM-DD.") from None


class Command(BaseCommand):
    help = "Run the nightly inactivity check now (as of today in London, or --as-of)."

    def add_arguments(self, parser):
        parser.add_argument("--as-of", type=str, help="the date to judge inactivity on, YYYY-MM-DD")
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument(
            "--full",
            action="store_true",
            help="recompute every mailbox and home, not only those touched since the last run",
        )

    def handle(self, *args, **options):
        as_of = parse_as_of(options["as_of"]) if options["as_of"] else london_today()
        try:
            run = run_check(as_of, trigger=CheckRun.Trigger.COMMAND, full=options["full"])
        except Exception as exc:
            raise CommandError(f"The check failed: {exc}") from exc
        summary = run.summary()
        if options["json"]:
            self.stdout.write(json.dumps(summary))
        elif run.outcome == CheckRun.Outcome.SKIPPED:
            self.stdout.write(f"Skipped: {run.error or 'another check is running.'}")
        else:
            self.stdout.write(
                f"Checked {run.checked} accounts as of {as_of}: {run.newly_flagged} newly "
                f"inactive, {run.recovered} recovered, {run.events} changes recorded."
            )
            self.stdout.write(
                "Accounts: " + ", ".join(f"{k} {v}" for k, v in summary["accounts"].items())
            )
            self.stdout.write(
                "Mailboxes: " + ", ".join(f"{k} {v}" for k, v in summary["mailboxes"].items())
            )
        if run.outcome == CheckRun.Outcome.SKIPPED:
            raise SystemExit(3)

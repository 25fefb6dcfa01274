import json

from django.core.management.base import BaseCommand

from accounts.management.commands.check_inactivity import parse_as_of
from accounts.models import CheckRun, Notification
from accounts.notify import send_notifications
from accounts.rules import london_today


class Command(BaseCommand):
    help = "Plan and send reminders, admin alerts (for the last check) and managers' digests."

    def add_arguments(self, parser):
        parser.add_argument("--as-of", type=str, help="the date to plan for, YYYY-MM-DD")
        parser.add_argument("--dry-run", action="store_true", help="plan and show, send nothing")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, **options):
        as_of = parse_as_of(options["as_of"]) if options["as_of"] else london_today()
        run = (
            CheckRun.objects.national()
            .filter(outcome=CheckRun.Outcome.OK, as_of=as_of)
            .order_by("-id")
            .first()
        )
        summary = send_notifications(as_of, run=run, dry_run=options["dry_run"])
        if options["json"]:
            self.stdout.write(json.dumps(summary))
            return
        for kind in Notification.Kind:
            counts = summary[kind.value]
            verb = "would be sent" if options["dry_run"] else f"sent, {counts['failed']} failed"
            self.stdout.write(
                f"{kind.label}: {counts['planned']} planned, "
                f"{counts['planned'] if options['dry_run'] else counts['sent']} {verb}"
            )
        for kind, preview in summary.get("previews", {}).items():
            self.stdout.write(f"\n--- {kind} to {preview['to']}: {preview['subject']}\n")
            self.stdout.write(preview["text"])

"""The three import commands share this: one engine, one way of reporting."""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand

from ..models import User
from ..rules import normalise_email
from .engine import run_import

SHOWN_ERRORS = 50


class ImportCommand(BaseCommand):
    kind = ""

    def add_arguments(self, parser):
        parser.add_argument("file", help="the CSV file or .xlsx workbook")
        parser.add_argument("--dry-run", action="store_true", help="check only, write nothing")
        parser.add_argument(
            "--skip-bad-rows",
            action="store_true",
            help="write the good rows, list the skipped ones",
        )
        parser.add_argument(
            "--as",
            dest="as_user",
            metavar="USER_EMAIL",
            help="import as this portal user: rows outside their homes are errors",
        )
        if self.kind != "homes":
            parser.add_argument(
                "--ods", metavar="CODE", help="the file is for this one home (no ODS column needed)"
            )

    def handle(self, *args, **options):
        path = Path(options["file"])
        if not path.is_file():
            self.stderr.write(f"file: {path} does not exist or is not a file")
            sys.exit(2)
        user = None
        if options["as_user"]:
            user = User.objects.filter(email=normalise_email(options["as_user"])).first()
            if user is None or not user.is_active:
                self.stderr.write(f"--as: no active portal user {options['as_user']}")
                sys.exit(2)
        progress = self._progress if sys.stderr.isatty() else None
        result = run_import(
            self.kind,
            path,
            user=user,
            dry_run=options["dry_run"],
            skip_bad_rows=options["skip_bad_rows"],
            progress=progress,
            ods=options.get("ods"),
        )
        if progress and result.rows >= 10_000:
            sys.stderr.write("\n")
        lines = result.error_lines()
        for line in lines[:SHOWN_ERRORS]:
            self.stderr.write(line)
        if result.error_count > SHOWN_ERRORS:
            self.stderr.write(f"... and {result.error_count - SHOWN_ERRORS} more errors")
        verb = "would be" if result.dry_run else "were"
        if (
            result.written
            or result.dry_run
            and not (result.error_count and not result.skip_bad_rows)
        ):
            report = f"; report date {result.report_date}" if result.report_date else ""
            self.stdout.write(f"Read as: {result.file_format}{report}")
            summary = (
                f"{self.kind}: {result.rows} rows read ({result.encoding or result.container}); "
                f"{result.created} "
                f"{verb} created, {result.updated} updated, {result.unchanged} unchanged, "
                f"{result.skipped_count} skipped"
            )
            if self.kind == "accounts":
                summary += (
                    f"; mailbox links: {result.links_added} added, {result.links_removed} removed"
                )
            self.stdout.write(summary + ".")
        else:
            self.stderr.write(
                f"Nothing was written: {result.error_count} error(s) in {result.file_name}. "
                "Fix them, or run again with --skip-bad-rows to write the good rows."
            )
        if result.skipped_count and (result.written or result.dry_run):
            shown = ", ".join(map(str, result.skipped_lines[:SHOWN_ERRORS]))
            more = result.skipped_count - min(result.skipped_count, SHOWN_ERRORS)
            self.stderr.write(f"Skipped lines: {shown}" + (f" and {more} more" if more > 0 else ""))
        if result.error_count:
            sys.exit(1)

    def _progress(self, rows: int, seconds: float) -> None:
        rate = rows / seconds if seconds else 0
        sys.stderr.write(f"\rread {rows:,} rows ({rate:,.0f} rows/s)")
        sys.stderr.flush()

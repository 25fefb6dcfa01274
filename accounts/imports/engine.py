"""One import engine for homes, mailboxes and accounts.

Read and check every row first (streaming, in chunks, into a staging table), then check the
file as a whole in SQL (duplicates, unknown homes and mailboxes), then write everything in
one transaction with set-based statements that touch only the rows that change. With any
error nothing is written, unless the caller asked to skip bad rows. A dry run does all of it
and rolls back, so its counts are exact.
"""

import csv
import logging
import tempfile
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from .. import rulesql, worklistcounts
from ..checks import (
    BY_ID_WHEN_CHANGED,
    SEEK_AS_BEFORE,
    SEEK_BY_ID,
    seqscan_setting,
    settings_for_big_statements,
)
from ..models import CareHome, CheckRun, ImportRecord
from ..rules import AccountState, Thresholds, is_valid_ods_code, london_today, normalise_ods_code
from ..scoping import ImportScope, import_scope_for
from . import bulk, csvfiles, headers, rawcopy, sheets
from .scope import SCOPE_HOMES, SCOPE_REGIONS, scope_checks
from .specs import KIND_NAMES, SPECS, Spec

log = logging.getLogger(__name__)
KEPT_ERRORS = 1000
# The most an error message may hold, whatever a cell held: a bounded preview.
MESSAGE_CHARS = 500
STAGE, LINKS, ERRORS = "import_stage", "import_links", "import_errors"
MATCHED = "import_matched"  # the staged rows of accounts that exist (_match_accounts)
LINK_DIFF = "import_link_diff"  # the links of those accounts that go or come (_accounts_sql)
LINK_COLUMNS = ["line", "email", "mailbox", "ods_code"]  # the row's ODS code, for the checks

# The staging table of each kind: its columns after "line", in the order rows are read.
STAGING = {
    "homes": [("ods_code", "text"), ("name", "text"), ("registered_landline", "text"),
              ("cqc_location_id", "text"), ("region", "text")],
    "mailboxes": [("ods_code", "text"), ("email", "text"), ("display_name", "text")],
    "accounts": [("email", "text"), ("ods_code", "text"), ("display_name", "text"),
                 ("reported_status", "text"), ("last_activity", "timestamptz"),
                 ("last_activity_date", "date"), ("first_recorded", "date")],
}  # fmt: skip


# What an error with no line (line 0) is about, for people.
WHOLE = {
    "file": "The file",
    "database": "The import",
    "worker": "The import",
    "ods_code": "The home chosen",
}


@dataclass
class ImportResult:
    kind: str
    file_name: str
    dry_run: bool = False
    skip_bad_rows: bool = False
    encoding: str = ""
    container: str = ""  # csv or xlsx, once the file could be opened
    file_format: str = ""  # what the file was taken to be, in words
    report_date: date | None = None  # the date a Microsoft 365 report was true
    ods: str = ""  # the home every row is for, when the file was imported for one
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    links_added: int = 0
    links_removed: int = 0
    error_count: int = 0
    errors: list[tuple[int, str, str]] = field(default_factory=list)
    skipped_count: int = 0
    skipped_lines: list[int] = field(default_factory=list)
    has_links_column: bool = False
    columns: dict[str, str] = field(default_factory=dict)  # ours -> the file's header
    written: bool = False
    record_id: int | None = None
    # The homes whose accounts or mailboxes the import touched (before or after it).
    home_ids: set[int] = field(default_factory=set)
    # The run of the import's own judgement of its new accounts (_judgement_run), if kept.
    judged_run_id: int | None = None
    recheck_run_id: int | None = None
    # Where the time went: stage (read and load the rows), check (the SQL checks), write,
    # and recheck (the touched homes' check after the commit).
    seconds: dict[str, float] = field(default_factory=dict)

    def add_error(self, line: int, column: str, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < KEPT_ERRORS:
            self.errors.append((line, column, csvfiles.clipped(message, MESSAGE_CHARS)))

    def error_lines(self) -> list[str]:
        """`line N: column: message` for a row; a problem with no line says what it is about
        ("The file: ...") rather than naming a line 0."""
        return [
            f"line {line}: {column}: {message}"
            if line
            else f"{WHOLE.get(column, column)}: {message}"
            for line, column, message in sorted(self.errors)
        ]

    @property
    def outcome(self) -> str:
        if self.dry_run:
            return ImportRecord.Outcome.DRY_RUN
        if not self.written:
            return ImportRecord.Outcome.FAILED
        return ImportRecord.Outcome.PARTIAL if self.skipped_count else ImportRecord.Outcome.OK


class _Refused(Exception):
    def __init__(self, line: int, column: str, message: str):
        super().__init__(message)
        self.line, self.column, self.message = line, column, message


def _db_date(value: date):
    return value if connection.vendor == "postgresql" else value.isoformat()


def _distinct(pairs: list[tuple[str, str]]) -> str:
    return " OR ".join(f"({new}) IS DISTINCT FROM {old}" for new, old in pairs)


def run_import(
    kind: str,
    path: Path,
    *,
    dry_run: bool = False,
    skip_bad_rows: bool = False,
    file_name: str | None = None,
    user=None,
    source: str = ImportRecord.Source.COMMAND,
    progress: Callable[[int, float], None] | None = None,
    token: str = "",
    scope: ImportScope | None = None,
    ods: str | None = None,
) -> ImportResult:
    """Import one CSV file or workbook; always leaves an ImportRecord saying what happened.
    Rows may touch only what `scope` allows (by default the user's: scoping.import_scope_for,
    where no user is an operator at the command line and may touch anything). ods: the file
    is for this one home (it may then have no ODS code column)."""
    spec = SPECS[kind]
    scope = import_scope_for(user) if scope is None else scope
    path = Path(path)
    result = ImportResult(kind, file_name or path.name, dry_run, skip_bad_rows)
    record = ImportRecord(
        kind=kind, source=source, user=user, file_name=result.file_name, token=token
    )
    try:
        if ods is not None:
            result.ods = _home_for_file(spec, ods, scope)
        facts = sheets.inspect(path, settings.IMPORT_MAX_BYTES)
        record.size, record.sha256 = facts.size, facts.sha256
        result.encoding, result.container = facts.encoding, facts.container
        with transaction.atomic():
            if connection.vendor == "postgresql":  # as the check's: hash joins in memory
                with connection.cursor() as cursor:
                    settings_for_big_statements(cursor)
            started = time.perf_counter()
            _stage(spec, path, facts, result, progress)
            result.seconds["stage"] = time.perf_counter() - started
            _check(spec, result, scope)
            result.seconds["check"] = time.perf_counter() - started - result.seconds["stage"]
            if result.error_count and not skip_bad_rows:
                transaction.set_rollback(True)
            else:
                _write(spec, result)
                result.seconds["write"] = (
                    time.perf_counter() - started - sum(result.seconds.values())
                )
                result.written = not dry_run
                if dry_run:
                    transaction.set_rollback(True)
                else:
                    _drop_staging()
    except csvfiles.FileRefused as exc:
        result.add_error(0, "file", str(exc))
    except _Refused as exc:
        result.add_error(exc.line, exc.column, exc.message)
    except FileNotFoundError:  # an upload cleared away, or a task delivered twice
        result.add_error(0, "file", "the file is no longer there: upload it again")
    except OSError as exc:  # the server's own disk (the links' temporary file, say)
        result.written = False
        result.add_error(
            0,
            "worker",
            "the import stopped and wrote nothing (the server could not write a temporary "
            f"file: {exc.strerror or type(exc).__name__})",
        )
    except DatabaseError as exc:  # the transaction rolled back: nothing was written
        result.written = False
        reason = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        result.add_error(
            0, "database", f"the import stopped and wrote nothing (the database said: {reason})"
        )
    record.finish(result)
    result.record_id = record.pk
    if not result.written:  # a dry run, or a write that failed: its judgement run is gone
        result.judged_run_id = None
    if result.written and result.home_ids:
        started = time.perf_counter()
        _recheck(result)
        result.seconds["recheck"] = time.perf_counter() - started
    return result


def _recheck(result: ImportResult) -> None:
    """Bring the touched homes up to date at once (as of today, the same rules as the
    nightly check), as a run of its own; the import stands whatever the recheck does."""
    from ..checks import run_check

    try:
        run = run_check(london_today(), trigger=CheckRun.Trigger.IMPORT, home_ids=result.home_ids)
    except Exception:  # recorded on the run as failed; the nightly check catches up
        log.exception("recheck after import %s failed", result.record_id)
        return
    result.recheck_run_id = run.pk


def _home_for_file(spec: Spec, ods: str, scope: ImportScope) -> str:
    if spec.kind == "homes":
        raise _Refused(0, "ods_code", "a care homes file is not for one home: give no home")
    code = normalise_ods_code(ods)
    if not is_valid_ods_code(code):
        raise _Refused(
            0, "ods_code", f"{ods.strip()!r} is not a valid ODS code: use 3 to 6 letters or digits"
        )
    if scope.unscoped and not CareHome.objects.filter(ods_code=code).exists():
        raise _Refused(0, "ods_code", f"no care home with ODS code {code} (import homes first)")
    if not scope.unscoped and not scope.homes.filter(ods_code=code).exists():
        raise _Refused(0, "ods_code", f"{code} is not one of your homes")
    return code


def _drop_staging() -> None:
    with connection.cursor() as cursor:
        for table in (STAGE, LINKS, ERRORS, MATCHED, LINK_DIFF, SCOPE_HOMES, SCOPE_REGIONS):
            cursor.execute(f"DROP TABLE IF EXISTS {table}")


def _stage(spec: Spec, path: Path, facts, result: ImportResult, progress) -> None:
    _drop_staging()
    staging = ", ".join(f"{name} {kind}" for name, kind in STAGING[spec.kind])
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE {STAGE} (line integer, {staging})")
        link_columns = "line integer, email text, mailbox text, ods_code text"
        cursor.execute(f"CREATE TEMPORARY TABLE {LINKS} ({link_columns})")
        cursor.execute(f"CREATE TEMPORARY TABLE {ERRORS} (line integer, col text, message text)")
    records = sheets.rows(path, facts.container, facts.encoding)
    try:
        header_line, header = next(records, (1, []))
    except csv.Error as exc:
        raise _Refused(1, "file", f"this is not a CSV file this portal can read ({exc})") from None
    if not any(h.strip() for h in header):
        raise _Refused(1, "file", "the file has no header row")
    plan = headers.plan(spec, header, ods=result.ods or None)
    result.file_format = _file_format(plan, facts)
    for column, message in plan.problems[1:]:
        result.add_error(header_line, column, message)
    if plan.problems:
        raise _Refused(header_line, *plan.problems[0])
    result.has_links_column = "shared_mailboxes" in plan.columns
    pg = connection.vendor == "postgresql"
    result.columns = plan.columns
    readers = plan.readers
    started = time.monotonic()
    # PostgreSQL: COPY the file's own bytes and read its cells in SQL (rawcopy), leaving
    # only the rows SQL cannot take plainly to the reader below (reading and staging every
    # row in Python took 12-14 us a row: 12 s of the 68 s a million-row import took).
    raw = None
    if rawcopy.usable(spec, plan, facts, result.ods):
        raw = rawcopy.stage(spec, plan, header, path, facts)
    if raw is not None:
        if isinstance(records, Generator):  # csvfiles.rows holds the file open: let it go
            records.close()
        result.rows, records = raw
        if progress:
            progress(result.rows, time.monotonic() - started)
    links: list[tuple] = []
    # PostgreSQL: the rows go to the database in one COPY as they are read (bulk.stream), so
    # their links wait in a file of their own until it ends.
    spool = tempfile.TemporaryFile("w+", newline="", encoding="utf-8") if pg else None  # noqa: SIM115
    spooled = csv.writer(spool, lineterminator=bulk.LINE_END) if spool else None
    read_fast = _fast_reader(readers)
    # COPY's text for each moment a file holds (str() of an aware datetime costs about 3 µs;
    # a file repeats its dates). SQLite takes the objects (bulk._adapt).
    copied: dict | None = {} if pg else None

    def good_rows():
        for line, fields in records:
            if not "".join(fields).strip():  # a blank row (every cell blank) is no row
                continue
            result.rows += 1
            if progress and result.rows % 10_000 == 0:
                progress(result.rows, time.monotonic() - started)
            if len(fields) != len(header):
                _reject(
                    result, line, "row", f"has {len(fields)} fields; the header has {len(header)}"
                )
                continue
            row = read_fast(fields)
            if row is None:  # a problem: read it again, cell by cell, for every error
                row = _read_row(readers, line, fields, result)
                if row is None:
                    continue
            if spec.kind != "accounts":
                yield (line, *row)
                continue
            email, ods, name, status, moment, created, mailboxes = row
            if mailboxes:
                if spooled:
                    spooled.writerows((line, email, box, ods) for box in mailboxes)
                else:
                    links.extend((line, email, box, ods) for box in mailboxes)
                    if len(links) >= bulk.CHUNK:
                        bulk.load(LINKS, LINK_COLUMNS, links)
                        links.clear()
            if moment is None or moment[0] is None:
                moment = (None, None)
            elif copied is not None and not moment[0].fold:  # (fold 1 compares equal to 0)
                if (text := copied.get(moment)) is None:
                    text = copied[moment] = (str(moment[0]), str(moment[1]))
                    if len(copied) > 65536:
                        copied.clear()
                        copied[moment] = text
                moment = text
            yield (line, email, ods, name, status, *moment, created)

    columns = ["line", *(name for name, _ in STAGING[spec.kind])]
    try:
        try:
            bulk.stream(STAGE, columns, good_rows())
        except csv.Error as exc:
            raise _Refused(result.rows + 2, "file", f"the file is not valid CSV ({exc})") from None
        if spool:
            spool.seek(0)
            bulk.copy_file(LINKS, LINK_COLUMNS, spool)
    finally:
        if spool:
            spool.close()
    bulk.load(LINKS, LINK_COLUMNS, links)
    if plan.report_dates:
        result.report_date = max(plan.report_dates)
    if result.rows == 0:
        raise _Refused(header_line, "file", "the file has a header but no data rows")
    with connection.cursor() as cursor:
        for table in (STAGE, LINKS):  # so the planner joins the staged rows sensibly
            cursor.execute(f"ANALYZE {table}")


def _file_format(plan: headers.Plan, facts: csvfiles.FileFacts) -> str:
    """What the file was taken to be, in the words the upload page uses."""
    container = sheets.CONTAINER_NAMES[facts.container]
    if facts.container == sheets.XLSX:
        container += f", sheet {facts.sheet!r}"
    if plan.layout:
        return f"{plan.layout} ({container})"
    return f"{container} with the portal's columns"


def _reject(result: ImportResult, line: int, column: str, message: str) -> None:
    result.add_error(line, column, message)
    result.skipped_count += 1
    if len(result.skipped_lines) < KEPT_ERRORS:
        result.skipped_lines.append(line)


def _no_cell(fields: list[str]) -> str:
    return ""


def _nothing(text: str) -> None:
    return None


def _fast_reader(readers) -> Callable[[list[str]], list | None]:
    """The row's values in column order when every cell reads without a problem, else None
    (and then _read_row reads it again to name every problem): one pass with no bookkeeping,
    the common case of a million-row file."""
    pairs = [(read, cells) if cells else (_nothing, _no_cell) for _, read, _, cells in readers]
    required = [cells for _, _, needed, cells in readers if needed and cells]

    def read_fast(fields: list[str]) -> list | None:
        for cells in required:
            if not cells(fields).strip():
                return None
        try:
            return [read(cells(fields)) for read, cells in pairs]
        except ValueError:
            return None

    return read_fast


def _read_row(readers, line: int, fields: list[str], result: ImportResult) -> list | None:
    """The row's values in column order, or None (with its errors recorded)."""
    values, errors = [], []
    for name, read, required, cells in readers:
        if cells is None:  # an absent column leaves what the portal knows as it is
            values.append(None)
            continue
        raw = cells(fields)
        if required and not raw.strip():
            errors.append((name, "is empty; it is required"))
            continue
        try:
            values.append(read(raw))
        except ValueError as exc:
            errors.append((name, str(exc)))
    if not errors:
        return values
    for column, message in errors[1:]:
        result.add_error(line, column, message)
    _reject(result, line, *errors[0])
    return None


# Whole-file checks, in SQL ------------------------------------------------------------


def _check(spec: Spec, result: ImportResult, scope: ImportScope) -> None:
    key = spec.key
    checks = [
        f"""SELECT s.line, '{key}', s.{key} || ' is already on line ' || d.first_line
            FROM {STAGE} s JOIN (SELECT {key}, MIN(line) AS first_line FROM {STAGE}
                GROUP BY {key} HAVING COUNT(*) > 1) d ON d.{key} = s.{key}
            WHERE s.line > d.first_line"""
    ]
    if spec.kind == "accounts":
        checks.append(_too_many_per_home())
    if not scope.unscoped:
        checks += scope_checks(spec.kind, scope, STAGE, LINKS)
    elif spec.kind != "homes":
        checks.append(
            f"""SELECT s.line, 'ods_code', 'no care home with ODS code ' || s.ods_code
                || ' (import homes first)'
                FROM {STAGE} s WHERE NOT EXISTS
                (SELECT 1 FROM accounts_carehome h WHERE h.ods_code = s.ods_code)"""
        )
    if spec.kind != "homes":
        # A file of the other kind with the same columns (email, ods_code, display_name)
        # shows itself by its addresses: one address is never both a person and a mailbox.
        other, noun, ours = (
            ("staffaccount", "a staff account", "a shared mailbox")
            if spec.kind == "mailboxes"
            else ("sharedmailbox", "a shared mailbox", "a staff account")
        )
        other_kind = "accounts" if spec.kind == "mailboxes" else "mailboxes"
        checks.append(
            f"""SELECT s.line, 'email', s.email || ' is {noun} of this home, not {ours}: '
                || 'is this {KIND_NAMES[other_kind][0]}?'
                FROM {STAGE} s JOIN accounts_{other} o ON o.email = s.email
                JOIN accounts_carehome h ON h.id = o.home_id AND h.ods_code = s.ods_code"""
            + ("" if scope.unscoped else f" WHERE h.id IN (SELECT id FROM {SCOPE_HOMES})")
        )
    if spec.kind == "accounts" and scope.unscoped:
        checks += [
            f"""SELECT l.line, 'shared_mailboxes', 'no shared mailbox ' || l.mailbox
                || ' (import mailboxes first)'
                FROM {LINKS} l WHERE l.mailbox IS NOT NULL AND NOT EXISTS
                (SELECT 1 FROM accounts_sharedmailbox m WHERE m.email = l.mailbox)""",
            f"""SELECT l.line, 'shared_mailboxes', l.mailbox || ' belongs to another home ('
                || h.ods_code || '), not ' || l.ods_code
                FROM {LINKS} l JOIN accounts_sharedmailbox m ON m.email = l.mailbox
                JOIN accounts_carehome h ON h.id = m.home_id
                WHERE h.ods_code <> l.ods_code""",
        ]
    with connection.cursor() as cursor:
        for sql in checks:
            cursor.execute(f"INSERT INTO {ERRORS} (line, col, message) {sql}")
        # A line without a message is skipped for another line's error (see _too_many_per_home).
        cursor.execute(f"SELECT COUNT(message), COUNT(DISTINCT line) FROM {ERRORS}")
        total, lines = cursor.fetchone()
        if not lines:
            return
        cursor.execute(
            f"""SELECT line, col, message FROM {ERRORS} WHERE message IS NOT NULL
            ORDER BY line, col LIMIT {KEPT_ERRORS}"""
        )
        for row in cursor.fetchall():
            result.add_error(*row)
        result.error_count += total - min(total, KEPT_ERRORS)
        result.skipped_count += lines
        cursor.execute(f"SELECT DISTINCT line FROM {ERRORS} ORDER BY line LIMIT {KEPT_ERRORS}")
        result.skipped_lines += [line for (line,) in cursor.fetchall()]
        result.skipped_lines.sort()
        cursor.execute(f"DELETE FROM {STAGE} WHERE line IN (SELECT line FROM {ERRORS})")
        cursor.execute(f"DELETE FROM {LINKS} WHERE line IN (SELECT line FROM {ERRORS})")


def _too_many_per_home() -> str:
    """A file with more rows for one home than any care home has staff is the wrong file (or
    a broken export): one error on the first row past the limit, and all that home's rows
    skipped with it."""
    limit = int(settings.MAX_ACCOUNTS_PER_HOME)
    message = (
        f"more than {limit:,} accounts for one care home (' || o.ods_code || ') in this file: "
        "is this the right file? None of this home''s rows are imported"
    )
    # Rows are numbered only in the homes over the limit (nearly never any): numbering all
    # of a million rows cost 2 s.
    return f"""SELECT s.line, 'ods_code', CASE WHEN s.line = o.line THEN '{message}' END
        FROM {STAGE} s JOIN (SELECT ods_code, line FROM (SELECT ods_code, line,
            ROW_NUMBER() OVER (PARTITION BY ods_code ORDER BY line) AS n FROM {STAGE}
            WHERE ods_code IN (SELECT ods_code FROM {STAGE} GROUP BY ods_code
                HAVING COUNT(*) > {limit})) numbered
            WHERE n = {limit + 1}) o ON o.ods_code = s.ods_code"""


# Writing --------------------------------------------------------------------------------


def _touched_homes(spec: Spec, cursor, *, written: bool = False) -> set[int]:
    """The homes of the staged rows: by their ODS codes, and for mailboxes the homes they
    belonged to (a mailbox that moves changes both homes; the homes accounts leave come from
    _match_accounts). Once written, every staged row belongs to the home of its ODS code."""
    sql = f"""SELECT h.id FROM accounts_carehome h
        WHERE h.ods_code IN (SELECT DISTINCT ods_code FROM {STAGE})"""
    if spec.kind == "mailboxes" and not written:
        sql += f""" UNION SELECT t.home_id FROM accounts_sharedmailbox t
            JOIN {STAGE} s ON s.email = t.email"""
    cursor.execute(sql)
    return {home_id for (home_id,) in cursor.fetchall()}


def _write(spec: Spec, result: ImportResult) -> None:
    today = london_today()
    params = {"today": _db_date(today)}
    writer = WRITERS[spec.kind](result.has_links_column)
    judged = None
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {STAGE}")
        staged = cursor.fetchone()[0]
        new_rows, by_id = True, False
        if spec.kind == "accounts":
            # Every staged row is joined with the accounts by email once (MATCHED); the
            # statements below join by line and id, and the homes accounts leave are known.
            result.home_ids |= _touched_homes(spec, cursor, written=True)
            matched, changed, moved_from = _match_accounts(cursor)
            result.home_ids |= moved_from
            new_rows = matched < staged  # a re-import of known accounts inserts nothing
            pg = connection.vendor == "postgresql"
            by_id = pg and 0 < changed <= BY_ID_WHEN_CHANGED * matched
        else:
            result.home_ids |= _touched_homes(spec, cursor)
        if writer.judges and new_rows:
            # Only when there are accounts to insert: a run made and deleted for nothing
            # cost a re-import a look for its events (0.18 s at a million rows: the newest
            # events' block ranges are not yet summarised, migration 0029).
            judged = _judgement_run(today, params)
        for sql in writer.before:
            cursor.execute(sql, params)
        if by_id:  # as the check's (checks.BY_ID_WHEN_CHANGED): a few rows, found by id
            params["seqscan"] = seqscan_setting(cursor)
            cursor.execute(SEEK_BY_ID)
        cursor.execute(writer.update, params)
        result.updated = cursor.rowcount
        if by_id:
            cursor.execute(SEEK_AS_BEFORE, params)
        # The links of rows that existed go first: new accounts have none to remove or keep.
        for sql in writer.links_compared:
            cursor.execute(sql, params)
        for sql in writer.links_removed:
            cursor.execute(sql, params)
            result.links_removed += cursor.rowcount
        for sql in writer.links_added:
            cursor.execute(sql, params)
            result.links_added += cursor.rowcount
        judgement = (0, 0, 0, {})
        if new_rows:
            cursor.execute(writer.insert, params)
            if judged:
                result.created, *judgement, linked = cursor.fetchone()
                result.links_added += linked or 0
            else:
                result.created = cursor.rowcount
            for sql in writer.new_links:
                cursor.execute(sql, params)
                result.links_added += cursor.rowcount
        result.unchanged = staged - result.updated - result.created
        if spec.kind != "accounts":
            result.home_ids |= _touched_homes(spec, cursor, written=True)
        if judged:
            _judged(judged, result, *judgement)
        _analyze_after_large_write(spec, result, cursor)
    # A homes file may move homes between regions: every region's worklist counts go.
    worklistcounts.changed(None if spec.kind == "homes" else result.home_ids)


def _match_accounts(cursor) -> tuple[int, int, set[int]]:
    """The staged rows of accounts that exist, with their account, the home it was in, the
    home of the row, and whether anything the row says differs (MATCHED); returns how many
    rows matched, how many of them differ, and the homes accounts leave. At a million rows
    each join of the staged rows with the accounts by email cost 2-3 s, and the writes took
    four of them (the update, the new rows, both links statements)."""
    differs = _distinct(ACCOUNT_FIELDS)
    cursor.execute(
        f"""CREATE TEMPORARY TABLE {MATCHED} AS
        SELECT s.line, t.id, t.home_id AS was_home, h.id AS home_id, ({differs}) AS changed
        FROM {STAGE} s JOIN accounts_carehome h ON h.ods_code = s.ods_code
        JOIN accounts_staffaccount t ON t.email = s.email"""
    )
    if connection.vendor != "postgresql":  # SQLite joins by looking rows up
        cursor.execute(f"CREATE INDEX {MATCHED}_line ON {MATCHED} (line)")
        cursor.execute(f"CREATE INDEX {MATCHED}_id ON {MATCHED} (id)")
    cursor.execute(f"ANALYZE {MATCHED}")
    cursor.execute(f"SELECT COUNT(*), COUNT(*) FILTER (WHERE changed) FROM {MATCHED}")
    matched, changed = cursor.fetchone()
    cursor.execute(f"SELECT DISTINCT was_home FROM {MATCHED} WHERE changed AND was_home <> home_id")
    return matched, changed, {home_id for (home_id,) in cursor.fetchall()}


def _judgement_run(today: date, params: dict) -> CheckRun:
    """PostgreSQL: the run record of the import's own judgement of its new accounts, made in
    the import's transaction (it exists only if the import does). The accounts INSERT writes
    new accounts already judged as of its date, with the check's rules and thresholds, and
    records their first state (from nothing, as the check would) under this run. The recheck
    that follows the commit is a run of its own, as of its own date: it finds them judged,
    so a fresh import of a million accounts no longer has the check rewrite a million rows,
    and its changes come after every run that finished before it (alerts read runs in
    order)."""
    # Some homes from the start (how many, once written): never, even for a moment, a run
    # that looks national (worklistcounts._run_saved renews every region for those).
    run = CheckRun.objects.create(as_of=today, trigger=CheckRun.Trigger.IMPORT, scope_homes=0)
    params.update(rulesql.params(today, Thresholds.from_settings()))
    params.update(run=run.pk, now=run.started_at)
    return run


def _judged(
    run: CheckRun, result: ImportResult, judged: int, flagged: int | None, homes: int, by_state
) -> None:
    """The judgement run, finished with the import's write: the new accounts it judged (in
    how many homes, by state) and the state changes it recorded (none judged: no run is
    kept)."""
    if not judged:
        run.delete()
        return
    by_state = by_state or {}
    run.scope_homes = homes
    run.checked = run.events = judged
    run.newly_flagged = flagged or 0
    run.accounts_by_state = {state.value: by_state.get(state.value, 0) for state in AccountState}
    run.outcome = CheckRun.Outcome.OK
    run.finished_at = timezone.now()
    run.save()
    result.judged_run_id = run.pk


# The tables each kind writes: analysed after a large write, so that the next statement (a
# re-import, the recheck) plans with today's row counts rather than autovacuum's last look.
WRITTEN_TABLES = {
    "homes": ["accounts_region", "accounts_carehome"],
    "mailboxes": ["accounts_sharedmailbox", "accounts_mailboxlink"],
    "accounts": ["accounts_staffaccount", "accounts_mailboxlink"],
}


def _analyze_after_large_write(spec: Spec, result: ImportResult, cursor) -> None:
    """A re-import right after a large import, before autovacuum had analysed the tables,
    picked a cross-join plan: 14.5 s instead of 4.6 s at 1M rows. ANALYZE samples a fixed
    number of rows, so it costs well under a second even at national scale."""
    written = result.created + result.updated + result.links_added + result.links_removed
    if written < settings.IMPORT_ANALYZE_ROWS or result.dry_run:
        return
    if connection.vendor == "postgresql":
        cursor.execute(f"ANALYZE {', '.join(WRITTEN_TABLES[spec.kind])}")
    else:
        for table in WRITTEN_TABLES[spec.kind]:
            cursor.execute(f"ANALYZE {table}")


@dataclass
class Writer:
    update: str
    insert: str
    judges: bool = False  # the insert judges new rows and returns what _judged_insert says
    before: list[str] = field(default_factory=list)
    links_compared: list[str] = field(default_factory=list)  # before the two below, uncounted
    links_removed: list[str] = field(default_factory=list)  # before the insert
    links_added: list[str] = field(default_factory=list)  # before the insert
    new_links: list[str] = field(default_factory=list)  # the new rows' links, after it


def _unlink_across_homes(join_on: str) -> str:
    """Links of the staged rows whose account and mailbox are no longer in one home."""
    return f"""DELETE FROM accounts_mailboxlink WHERE id IN (
        SELECT k.id FROM accounts_mailboxlink k
        JOIN accounts_staffaccount a ON a.id = k.account_id
        JOIN accounts_sharedmailbox m ON m.id = k.mailbox_id
        JOIN {STAGE} s ON s.email = {join_on}
        WHERE a.home_id <> m.home_id)"""


def _homes_sql(_has_links: bool) -> Writer:
    fields = [
        ("s.name", "t.name"),
        ("COALESCE(s.registered_landline, t.registered_landline)", "t.registered_landline"),
        ("COALESCE(s.cqc_location_id, t.cqc_location_id)", "t.cqc_location_id"),
        ("COALESCE(r.id, t.region_id)", "t.region_id"),
    ]
    sets = ", ".join(f"{old.split('.')[1]} = {new}" for new, old in fields)
    regions = f"""INSERT INTO accounts_region (name)
        SELECT DISTINCT s.region FROM {STAGE} s WHERE s.region IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM accounts_region r WHERE r.name = s.region)"""
    update = f"""UPDATE accounts_carehome AS t SET {sets}
        FROM {STAGE} s LEFT JOIN accounts_region r ON r.name = s.region
        WHERE t.ods_code = s.ods_code AND ({_distinct(fields)})"""
    insert = f"""INSERT INTO accounts_carehome (ods_code, name, registered_landline,
            cqc_location_id, region_id)
        SELECT s.ods_code, s.name, COALESCE(s.registered_landline, ''),
            COALESCE(s.cqc_location_id, ''), r.id
        FROM {STAGE} s LEFT JOIN accounts_region r ON r.name = s.region
        WHERE NOT EXISTS (SELECT 1 FROM accounts_carehome t WHERE t.ods_code = s.ods_code)"""
    return Writer(update, insert, before=[regions])


def _mailboxes_sql(_has_links: bool) -> Writer:
    fields = [("h.id", "t.home_id"), ("COALESCE(s.display_name, t.display_name)", "t.display_name")]
    sets = ", ".join(f"{old.split('.')[1]} = {new}" for new, old in fields)
    update = f"""UPDATE accounts_sharedmailbox AS t SET {sets}
        FROM {STAGE} s JOIN accounts_carehome h ON h.ods_code = s.ods_code
        WHERE t.email = s.email AND ({_distinct(fields)})"""
    insert = f"""INSERT INTO accounts_sharedmailbox (email, home_id, display_name)
        SELECT s.email, h.id, COALESCE(s.display_name, '')
        FROM {STAGE} s JOIN accounts_carehome h ON h.ods_code = s.ods_code
        WHERE NOT EXISTS (SELECT 1 FROM accounts_sharedmailbox t WHERE t.email = s.email)"""
    return Writer(update, insert, links_removed=[_unlink_across_homes("m.email")])


# What an accounts row may change (new value, old value): a report's leaver is its reported
# status (left at any as-of date); a manager's "left on" date is kept apart in left_on.
ACCOUNT_FIELDS = [
    ("h.id", "t.home_id"),
    ("COALESCE(s.display_name, t.display_name)", "t.display_name"),
    ("COALESCE(s.reported_status, t.reported_status)", "t.reported_status"),
    ("COALESCE(s.last_activity, t.last_activity)", "t.last_activity"),
    ("COALESCE(s.last_activity_date, t.last_activity_date)", "t.last_activity_date"),
    ("COALESCE(s.first_recorded, t.first_recorded)", "t.first_recorded"),
]


def _accounts_sql(has_links: bool) -> Writer:
    """The statements join the staged rows with the accounts through MATCHED (by line and
    id), never again by email."""
    sets = ", ".join(f"{old.split('.')[1]} = {new}" for new, old in ACCOUNT_FIELDS)
    update = f"""UPDATE accounts_staffaccount AS t SET {sets}
        FROM {MATCHED} m JOIN {STAGE} s ON s.line = m.line
        JOIN accounts_carehome h ON h.id = m.home_id
        WHERE t.id = m.id AND m.changed AND ({_distinct(ACCOUNT_FIELDS)})"""
    new = f"""SELECT s.email, h.id AS home_id, COALESCE(s.display_name, '') AS display_name,
            COALESCE(s.reported_status, 'active') AS reported_status,
            CAST(NULL AS date) AS left_on, CAST(NULL AS date) AS attested_on,
            s.last_activity, s.last_activity_date,
            COALESCE(s.first_recorded, %(today)s) AS first_recorded,
            (h.checked_as_of IS NULL OR h.checked_as_of = %(today)s) AS home_checked_today
        FROM {STAGE} s JOIN accounts_carehome h ON h.ods_code = s.ods_code
        WHERE NOT EXISTS (SELECT 1 FROM {MATCHED} m WHERE m.line = s.line)"""
    columns = """email, home_id, display_name, reported_status, left_on, last_activity,
        last_activity_date, first_recorded"""
    judges = _judges_new_accounts()
    if judges:
        insert = _judged_insert(new, columns, has_links)
    else:
        insert = f"INSERT INTO accounts_staffaccount ({columns}) SELECT {columns} FROM ({new}) n"
    if not has_links:  # an account's links across homes go (it moved, or a mailbox did)
        unlink = f"""DELETE FROM accounts_mailboxlink WHERE id IN (
            SELECT k.id FROM accounts_mailboxlink k JOIN {MATCHED} m ON m.id = k.account_id
            JOIN accounts_sharedmailbox mb ON mb.id = k.mailbox_id
            WHERE m.home_id <> mb.home_id)"""
        return Writer(update, insert, judges=judges, links_removed=[unlink])
    # The file's list replaces each imported account's links: the links they have and the
    # links the file lists, joined once (a full join), give both the links that go (not
    # listed) and those that come. Two statements, each joining a million links, took 1.5 s
    # and 1.35 s for a re-import that changed none. A link across homes (the account moved)
    # is never listed (the checks refuse a mailbox of another home), so it goes as one not
    # listed: the links they have need no look at their mailboxes (2.25-2.7 s, now 2.0-2.2 s
    # at a million).
    writer = Writer(update, insert, judges=judges)
    writer.links_compared.append(
        f"""CREATE TEMPORARY TABLE {LINK_DIFF} AS
        SELECT k.id AS link_id, f.account_id, f.mailbox_id FROM (
            SELECT k.id, k.account_id, k.mailbox_id FROM accounts_mailboxlink k
            WHERE k.account_id IN (SELECT id FROM {MATCHED})
        ) k FULL JOIN (
            SELECT m.id AS account_id, mb.id AS mailbox_id FROM {LINKS} l
            JOIN {MATCHED} m ON m.line = l.line
            JOIN accounts_sharedmailbox mb ON mb.email = l.mailbox
        ) f ON f.account_id = k.account_id AND f.mailbox_id = k.mailbox_id
        WHERE k.id IS NULL OR f.account_id IS NULL"""
    )
    # Its size known, the delete finds its few links by id rather than scanning them all.
    writer.links_compared.append(f"ANALYZE {LINK_DIFF}")
    writer.links_removed.append(
        f"""DELETE FROM accounts_mailboxlink WHERE id IN (
            SELECT link_id FROM {LINK_DIFF} WHERE account_id IS NULL)"""
    )
    # No DISTINCT: a row's list holds each mailbox once (specs.mailbox_list) and an email
    # is staged on one line only (the duplicate check), so the pairs are distinct already.
    writer.links_added.append(
        f"""INSERT INTO accounts_mailboxlink (account_id, mailbox_id)
        SELECT account_id, mailbox_id FROM {LINK_DIFF} WHERE link_id IS NULL"""
    )
    if not judges:  # the judged insert links its new accounts itself
        writer.new_links.append(
            f"""INSERT INTO accounts_mailboxlink (account_id, mailbox_id)
            SELECT a.id, mb.id FROM {LINKS} l JOIN accounts_staffaccount a ON a.email = l.email
            JOIN accounts_sharedmailbox mb ON mb.email = l.mailbox
            WHERE NOT EXISTS (SELECT 1 FROM {MATCHED} m WHERE m.line = l.line)"""
        )
    return writer


def _judges_new_accounts() -> bool:
    """Whether the accounts INSERT judges new accounts for the recheck (_judged_insert): on
    PostgreSQL, where a million-row import is at home. Elsewhere the recheck judges them."""
    return connection.vendor == "postgresql"


def _judged_insert(new: str, columns: str, has_links: bool) -> str:
    """PostgreSQL: the new accounts with their state and disable date as the check judges
    them (rulesql, the run's date and thresholds), and their first state change recorded
    under the import's judgement run (_judgement_run), as the check records it: from ''
    to the state. Only in homes whose figures count from that date (checked as of it, or
    never checked): a home checked as of another day shows every figure as of that day, so
    its new accounts wait unjudged for the recheck, as on SQLite (judged as of today in a
    home checked yesterday, an account read inactive with 89 days inactive until the
    recheck, or until the night if the recheck was skipped). With a mailboxes column, their
    links too, from the inserted rows themselves (joining a million new accounts back by
    email took 18-26 s). Returns (created, judged, newly flagged, homes judged, judged by
    state, links)."""
    days = Thresholds.from_settings().inactivity_days
    linked = (
        f"""linked AS (
            INSERT INTO accounts_mailboxlink (account_id, mailbox_id)
            SELECT a.id, mb.id FROM added a JOIN {LINKS} l ON l.email = a.email
            JOIN accounts_sharedmailbox mb ON mb.email = l.mailbox
            RETURNING 1),"""
        if has_links
        else ""
    )
    return f"""WITH added AS (
            INSERT INTO accounts_staffaccount ({columns}, state, disable_date, state_changed_at)
            SELECT {columns},
                CASE WHEN n.home_checked_today THEN {rulesql.account_state("n")} END,
                CASE WHEN n.home_checked_today
                    THEN {rulesql.plus_days("postgresql", rulesql.activity("n"), days)} END,
                CASE WHEN n.home_checked_today THEN %(now)s END
            FROM ({new}) n
            RETURNING id, state, home_id, email),
        recorded AS (
            INSERT INTO accounts_statechange
                (run_id, as_of, account_id, mailbox_id, from_value, to_value)
            SELECT %(run)s, %(as_of)s, id, NULL, '', state FROM added WHERE state IS NOT NULL
            RETURNING to_value),
        {linked}
        by_state AS (SELECT to_value, COUNT(*) AS n FROM recorded GROUP BY to_value)
        SELECT (SELECT COUNT(*) FROM added), (SELECT COUNT(*) FROM recorded),
            (SELECT n FROM by_state WHERE to_value = {rulesql.literal(AccountState.INACTIVE)}),
            (SELECT COUNT(DISTINCT home_id) FROM added WHERE state IS NOT NULL),
            (SELECT json_object_agg(to_value, n) FROM by_state),
            {"(SELECT COUNT(*) FROM linked)" if has_links else "0"}"""


WRITERS = {"homes": _homes_sql, "mailboxes": _mailboxes_sql, "accounts": _accounts_sql}

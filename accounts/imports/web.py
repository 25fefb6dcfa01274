"""Imports from the portal: an admin uploads a report, sees a checked preview, confirms.
Uploads live under UPLOAD_DIR (never served) until they are imported or abandoned."""

import csv
import json
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from ..models import ImportRecord, User
from ..scoping import NOTHING, import_scope_for, writable_homes_for
from . import sheets
from .csvfiles import FileRefused
from .engine import ImportResult, run_import
from .specs import Spec

PREVIEW_ROWS = 10
WAITING = (ImportRecord.Outcome.QUEUED, ImportRecord.Outcome.RUNNING)
TOKEN_CHARS = set("0123456789abcdef")


def upload_homes(user):
    """The homes a user may import a one-home report for."""
    return writable_homes_for(user)


def upload_path(token: str) -> Path | None:
    """The stored upload for a token, or None for anything that is not one of ours."""
    if len(token) != 32 or not set(token) <= TOKEN_CHARS:
        return None
    path = settings.UPLOAD_DIR / f"{token}.csv"
    return path if path.is_file() else None


def progress_path(token: str) -> Path:
    return settings.UPLOAD_DIR / f"{token}.progress.json"


def save_upload(uploaded) -> str:
    token = secrets.token_hex(16)
    with (settings.UPLOAD_DIR / f"{token}.csv").open("wb") as handle:
        for chunk in uploaded.chunks():
            handle.write(chunk)
    return token


def _run(kind: str, path: Path, user, file_name: str, **options) -> ImportResult:
    """The import engine, for an upload: recorded as from the portal, tied to its token, and
    limited to what the uploader may change (nothing, if their sign-in has gone since)."""
    return run_import(
        kind,
        path,
        user=user,
        source=ImportRecord.Source.WEB,
        file_name=file_name,
        token=path.stem,
        scope=NOTHING if user is None else import_scope_for(user),
        **options,
    )


def _stored(path: str) -> Path:
    """A task's path must be an upload of ours: a task queued by hand (the schedule in the
    admin) cannot import, or delete, any other file."""
    stored = Path(path)
    if stored.resolve().parent != settings.UPLOAD_DIR.resolve():
        raise ValueError(f"{path!r} is not an upload")
    return stored


def check_upload(kind: str, path: str, user_id: int, file_name: str, ods: str | None = None) -> int:
    """The dry run of a whole upload, done once when it arrives (in the worker for a large
    file); its record is what the preview shows. Returns the record id."""
    user = User.objects.filter(pk=user_id).first()
    return _run(kind, _stored(path), user, file_name, dry_run=True, ods=ods).record_id


def checked(token: str, user: User) -> ImportRecord | None:
    """The dry run of this user's upload, once it is done."""
    return (
        ImportRecord.objects.filter(token=token, user=user, outcome=ImportRecord.Outcome.DRY_RUN)
        .order_by("-id")
        .first()
    )


def first_rows(token: str, encoding: str) -> list[tuple[int, list[str]]]:
    """The upload's first rows as the file has them, with their line numbers (read only)."""
    path, rows = upload_path(token), []
    if path is None:
        return rows
    container = sheets.container_of(path)
    if container == sheets.CSV and not encoding:
        return rows
    try:
        for line, fields in sheets.rows(path, container, encoding):
            rows.append((line, fields))
            if len(rows) > PREVIEW_ROWS:
                break
    except (csv.Error, UnicodeDecodeError, FileRefused):
        return []
    return rows


LINE_ERROR = re.compile(r"^line (\d+): ([^:]+): ")


@dataclass
class Problems:
    """A record's kept errors, for the preview: those about the file as a whole (its kind,
    its columns), those of its lines in words (`listed`: "Line 3, ODS code: ..."), and the
    lines that have errors. The record keeps the commands' `line N: column: message`."""

    listed: list[str] = field(default_factory=list)
    file: list[str] = field(default_factory=list)
    lines: dict[int, list[str]] = field(default_factory=dict)


def problems(errors: list[str], spec: Spec) -> Problems:
    labels = {column.name: column.shown for column in spec.columns}
    found = Problems()
    for error in errors:
        match = LINE_ERROR.match(error)
        if match is None or match.group(2) == "file":
            message = error if match is None else "The file: " + error[match.end() :]
            found.file.append(message)
            continue
        line, column, message = int(match.group(1)), match.group(2), error[match.end() :]
        found.lines.setdefault(line, []).append(message)
        found.listed.append(f"Line {line}, {labels.get(column, column)}: {message}")
    return found


def queue_import(
    kind: str, path: str, user_id: int, skip_bad_rows: bool, file_name: str, ods: str | None
) -> None:
    """Hand an upload to the worker. A record says "waiting for the worker" until the import
    writes its own, so that a lost task or a killed worker shows (sweeps.py fails it). Raises
    one of tasks.BROKER_DOWN, leaving no record, when nothing could be queued."""
    from ..tasks import BROKER_DOWN, import_file, publish

    waiting = ImportRecord.objects.create(
        kind=kind,
        source=ImportRecord.Source.WEB,
        user_id=user_id,
        file_name=file_name,
        token=Path(path).stem,
        size=Path(path).stat().st_size,
        outcome=ImportRecord.Outcome.QUEUED,
    )
    try:
        publish(import_file, args=(kind, path, user_id, skip_bad_rows, file_name, ods))
    except BROKER_DOWN:
        waiting.delete()
        raise


def waiting_import(token: str, records) -> ImportRecord | None:
    """The upload's record while the worker has it (queued or running), from `records`."""
    return records.filter(token=token, outcome__in=WAITING).first()


def forget_upload(token: str) -> None:
    if path := upload_path(token):
        path.unlink(missing_ok=True)
    progress_path(token).unlink(missing_ok=True)


def import_upload(
    kind: str, path: str, user_id: int, skip_bad_rows: bool, file_name: str, ods: str | None = None
) -> int | None:
    """Import a stored upload for real, writing progress beside it; returns the record id,
    or None when the upload was handled already (a task delivered twice, or failed by the
    sweep for waiting too long)."""
    path = _stored(path)
    token = path.stem
    user = User.objects.filter(pk=user_id).first()
    uploads = ImportRecord.objects.filter(token=token).exclude(outcome=ImportRecord.Outcome.DRY_RUN)
    claimed = uploads.filter(outcome=ImportRecord.Outcome.QUEUED).update(
        outcome=ImportRecord.Outcome.RUNNING, started_at=timezone.now()
    )
    if not claimed and uploads.exists():
        return None

    def progress(rows: int, seconds: float) -> None:
        progress_path(token).write_text(json.dumps({"rows": rows, "seconds": round(seconds, 1)}))

    try:
        result = _run(
            kind, path, user, file_name, skip_bad_rows=skip_bad_rows, progress=progress, ods=ods
        )
    finally:
        path.unlink(missing_ok=True)
        progress_path(token).unlink(missing_ok=True)
    # The import's own record says what happened now.
    uploads.filter(outcome=ImportRecord.Outcome.RUNNING).delete()
    return result.record_id


def read_progress(token: str) -> dict:
    try:
        return json.loads(progress_path(token).read_text())
    except (OSError, ValueError):
        return {"rows": 0, "seconds": 0}


def clean_old_uploads(max_age_hours: int = 24) -> int:
    """Abandoned uploads are deleted after a day."""
    cutoff = time.time() - max_age_hours * 3600
    removed = 0
    for path in settings.UPLOAD_DIR.glob("*"):
        if path.is_file() and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            removed += 1
    return removed

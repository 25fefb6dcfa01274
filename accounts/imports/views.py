"""Pages for admins: import a report (upload, checked preview, confirm) and download the
hygiene export. Managers may download the export for their own homes."""

import time
from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from .. import downloads, sweeps
from ..forms import ImportConfirmForm, ImportUploadForm
from ..models import AuditEntry, ImportRecord
from ..rules import normalise_ods_code
from ..scoping import admin_only, get_import_record_for_user, homes_for, import_records_for
from ..tasks import BROKER_DOWN, check_upload, publish
from . import web
from .specs import KIND_NAMES, SPECS

SESSION_KEY = "uploads"
DRY_RUN = ImportRecord.Outcome.DRY_RUN
# A worker import waiting (queued, running) longer than this may have lost its worker: the
# progress page says so, and when the sweep will mark it failed.
OVERDUE = {"queued": timedelta(minutes=5), "running": timedelta(minutes=30)}


def _pending(request, token: str) -> tuple[dict, object]:
    """This user's upload for the token, or 404."""
    pending = request.session.get(SESSION_KEY, {}).get(token)
    path = web.upload_path(token)
    if not pending or path is None:
        raise Http404("No such upload.")
    return pending, path


@login_required
@admin_only
def import_new(request):
    # A body over the limit never gets here: see carehome_portal.middleware.
    if request.method == "POST":
        form = ImportUploadForm(request.POST, request.FILES, homes=web.upload_homes(request.user))
        if form.is_valid():
            web.clean_old_uploads()
            token = web.save_upload(form.cleaned_data["file"])
            uploads = request.session.get(SESSION_KEY, {})
            uploads[token] = {
                "kind": form.cleaned_data["kind"],
                "name": form.cleaned_data["file"].name[:200],
                "ods": form.cleaned_data["home"].ods_code if form.cleaned_data["home"] else None,
            }
            request.session[SESSION_KEY] = uploads
            args = (form.cleaned_data["kind"], str(web.upload_path(token)),
                    request.user.pk, uploads[token]["name"], uploads[token]["ods"])  # fmt: skip
            if form.cleaned_data["file"].size > settings.IMPORT_BACKGROUND_BYTES:
                try:
                    publish(check_upload, args=args)
                except BROKER_DOWN:
                    web.check_upload(*args)
            else:
                web.check_upload(*args)
            return redirect("import_preview", token=token)
    else:
        form = ImportUploadForm(homes=web.upload_homes(request.user))
    return render(request, "accounts/import_new.html", {"form": form})


@login_required
@admin_only
def import_preview(request, token):
    """A read of the dry run made when the file arrived: nothing is checked or written here."""
    pending, path = _pending(request, token)
    record = web.checked(token, request.user)
    if record is None:
        waited = time.time() - path.stat().st_mtime
        context = {"pending": pending, "gave_up": waited > settings.STALE_IMPORT_MINUTES * 60}
        return render(request, "accounts/import_checking.html", context)
    problems = web.problems(record.errors, SPECS[pending["kind"]])
    context = {
        "token": token,
        "pending": pending,
        "result": record,
        "rows": web.first_rows(token, record.encoding),
        "problems": problems,
        # The file's own problems are shown apart, above the rest.
        "line_errors": record.error_count - len(problems.file),
        "good_rows": max(record.rows - record.skipped, 0),
        "spec": SPECS[pending["kind"]],
        "kind_name": KIND_NAMES[pending["kind"]][1],
        "form": ImportConfirmForm(),
        "background": path.stat().st_size > settings.IMPORT_BACKGROUND_BYTES,
    }
    return render(request, "accounts/import_preview.html", context)


@login_required
@admin_only
@require_POST
def import_confirm(request, token):
    pending, path = _pending(request, token)
    form = ImportConfirmForm(request.POST)
    skip = form.is_valid() and form.cleaned_data["skip_bad_rows"]
    args = (pending["kind"], str(path), request.user.pk, skip, pending["name"], pending.get("ods"))
    background = path.stat().st_size > settings.IMPORT_BACKGROUND_BYTES
    if background:
        try:
            web.queue_import(*args)
        except BROKER_DOWN:
            messages.error(request, "The import could not be queued: the task broker is down.")
            return redirect("import_preview", token=token)
    # Only what happened: queued for the worker, or imported now.
    AuditEntry.record(request.user, "Import", subject=pending["name"], detail=pending["kind"])
    if background:
        return redirect("import_progress", token=token)
    record_id = web.import_upload(*args)
    request.session[SESSION_KEY].pop(token, None)
    request.session.modified = True
    return redirect("import_record", pk=record_id)


@login_required
@admin_only
def import_progress(request, token):
    if token not in request.session.get(SESSION_KEY, {}):
        raise Http404("No such upload.")
    records = import_records_for(request.user)
    waiting = web.waiting_import(token, records)
    done = records.filter(token=token).exclude(outcome__in=[DRY_RUN, *web.WAITING]).first()
    if done:
        return redirect("import_record", pk=done.pk)
    context = {"progress": web.read_progress(token), "token": token, "waiting": waiting}
    if waiting:
        context["fails_at"] = sweeps.stale_after(waiting)
        context["overdue"] = timezone.now() > waiting.started_at + OVERDUE[waiting.outcome]
    return render(request, "accounts/import_progress.html", context)


IMPORT_HISTORY_PAGE = 50


@login_required
@admin_only
def import_history(request):
    """The imports this admin may see (scoping.import_records_for), newest first."""
    records = import_records_for(request.user).select_related("user").order_by("-started_at", "-id")
    page = Paginator(records, IMPORT_HISTORY_PAGE).get_page(request.GET.get("page"))
    return render(request, "accounts/import_history.html", {"page": page})


@login_required
@admin_only
def import_record(request, pk):
    record = get_import_record_for_user(request.user, pk)
    return render(request, "accounts/import_record.html", {"record": record})


@login_required
def export_download(request, kind):
    """The result of the last check for the homes this user may see, as CSV for people
    (downloads.py; export_hygiene keeps the contract's columns)."""
    if kind not in downloads.KINDS:
        raise Http404("No such export.")
    homes = homes_for(request.user)
    if ods := request.GET.get("ods"):
        homes = homes.filter(ods_code=normalise_ods_code(ods))
    AuditEntry.record(request.user, "Export download", subject=kind, detail=f"ods={ods or 'all'}")
    columns, rows = downloads.KINDS[kind]
    return downloads.response(columns, rows(homes), f"nhsmail-{kind}")

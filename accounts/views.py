from collections.abc import Callable
from functools import partial

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.db import DatabaseError, connection
from django.http import Http404, JsonResponse, QueryDict
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils.functional import SimpleLazyObject
from django.views.decorators.http import require_POST

from carehome_portal.celery import app as celery_app

from . import (
    actions,
    dashboard,
    downloads,
    homerows,
    staffrows,
    worklist,
    worklistcounts,
    worklistrows,
)
from .models import AuditEntry, CareHome, StaffAccount
from .rules import AccountState, MailboxRisk
from .scoping import admin_only, get_account_for_writer, get_home_for_user, homes_for
from .tasks import queue_check


def landing(request):
    return render(request, "accounts/landing.html")


def _broker_reachable() -> bool:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=1)
        return True
    except Exception:  # any failure to connect means "not reachable"; the page must answer
        return False


def health(request):
    """200 when the database answers, 503 otherwise; the broker is reported, not required."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        database = "ok"
    except DatabaseError:
        database = "unreachable"
    body = {
        "status": "ok" if database == "ok" else "error",
        "database": database,
        "broker": "ok" if _broker_reachable() else "unreachable",
        "version": settings.VERSION,
    }
    return JsonResponse(body, status=200 if database == "ok" else 503)


@login_required
def dashboard_view(request):
    homes = homes_for(request.user).select_related("region")
    if not request.user.is_admin:
        context = {"last_run": dashboard.last_run(), "summaries": dashboard.summaries(homes)}
        return render(request, "accounts/dashboard_manager.html", context)
    view = dashboard.HomeFilter.from_query(request.GET)
    shown = view.apply(homes)
    ranked = dashboard.ranked_homes(shown).values_list(*homerows.COLUMNS)
    versions = worklistcounts.versions_for(request.user, None)
    context = {"last_run": _last_run(versions)}
    paginator = Paginator(ranked, 50)
    # Counted without the region's join that the rows' values need, and kept like the
    # worklist's counts until a write changes them (a cached property, set).
    paginator.count = worklistcounts.kept(
        versions,
        ("homes", view.querystring()),
        shown.count,
        worklistcounts.PAGE_SECONDS if view.query else worklistcounts.KEEP_SECONDS,
    )
    page = paginator.get_page(request.GET.get("page"))
    rows = partial(
        worklistcounts.kept,
        versions,
        ("dashboard", view.querystring(), page.number),
        partial(homerows.rows, page.object_list),
        worklistcounts.PAGE_SECONDS,
    )
    totals = partial(dashboard.risk_totals, versions, homes)
    # Below the buttons the page is kept as well: for the regions of those who see it,
    # the filters (in the query string) and the page number decide all of it.
    context["body"] = worklistcounts.kept(
        versions,
        ("dashboard page", view.querystring(), page.number),
        partial(_dashboard_body, request, view, page, rows, totals),
        worklistcounts.PAGE_SECONDS,
    )
    # What the page shows, for whoever reads the context (tests): built only if read.
    context.update(page=page, rows=SimpleLazyObject(rows), totals=SimpleLazyObject(totals))
    return render(request, "accounts/dashboard_admin.html", context)


def _dashboard_body(request, view, page, rows: Callable, totals: Callable) -> str:
    rows = rows()
    context = {
        "page": page,
        "rows": rows,
        "rows_html": homerows.html(rows),
        "view": view,
        "regions": dashboard.region_options(request.user, view.region),
        "risks": MailboxRisk.choices,
        "states": AccountState.choices,
        "totals": totals(),
    }
    return render_to_string("accounts/_dashboard_body.html", context, request)


@login_required
@require_POST
@admin_only
def run_check_now(request):
    """An admin queues the check for today from the dashboard."""
    queued, message = queue_check(request.user)
    (messages.success if queued else messages.error)(request, message)
    return redirect("dashboard")


@login_required
@admin_only
def dashboard_csv(request):
    """The admin's current view of the dashboard (filters applied), as CSV."""
    view = dashboard.HomeFilter.from_query(request.GET)
    AuditEntry.record(request.user, "Export download", subject="homes", detail=view.querystring())
    ranked = dashboard.ranked_homes(view.apply(homes_for(request.user).select_related("region")))
    return downloads.response(downloads.HOME_COLUMNS, downloads.home_rows(ranked), "homes-by-risk")


@login_required
def home_detail(request, ods_code):
    """A home's page. Below its name it is rendered once and kept (worklistcounts.kept)
    until a write changes a home of its region: checks, actions, imports, /admin/ edits
    and every other save of a home, account, mailbox or link give it a new version."""
    home = get_home_for_user(request.user, ods_code)
    sort = request.GET.get("sort", "")
    sort = sort if sort in dashboard.SORTS else "disable"
    versions = worklistcounts.versions_of_home(home)
    number = _home_page_number(home, versions, request.GET.get("page", ""))
    body = worklistcounts.kept(
        versions,
        ("home page", home.pk, sort, number),
        partial(_home_body, request, home, sort, number),
        worklistcounts.PAGE_SECONDS,
    )
    context = {"home": home, "body": body, "last_run": _last_run(versions)}
    return render(request, "accounts/home_detail.html", context)


def _last_run(versions: tuple | None):
    """The last national check, kept as the pages are: each one that ends well gives every
    region a new version in its own transaction."""
    return worklistcounts.kept(
        versions, "last run", dashboard.last_run, worklistcounts.PAGE_SECONDS
    )


def _home_page_number(home, versions: tuple, asked: str) -> int:
    count = StaffAccount.objects.filter(home=home).count
    return _page_number(
        asked,
        lambda: worklistcounts.kept(versions, ("home accounts", home.pk), count),
        dashboard.HOME_PAGE_ACCOUNTS,
    )


def _page_number(asked: str, count: Callable[[], int], per_page: int) -> int:
    """The page asked for, as Paginator.get_page reads it (1 if not a number, the last past
    the last), so that each page is kept once, whatever number names it. count() is asked
    only past page 1."""
    if not (asked.isdecimal() and len(asked) < 10) or int(asked) <= 1:
        return 1
    return min(int(asked), max(1, -(-count() // per_page)))


def _home_body(request, home, sort: str, number: int) -> str:
    # Read again after its version: a write since then is in it, or renews the version.
    home = CareHome.objects.select_related("region").get(pk=home.pk)
    summary = dashboard.summaries([home])[0]
    page = dashboard.home_accounts(home, sort, number, summary.accounts)
    dashboard.name_linked(summary.mailboxes)
    mailbox_ids = [m.pk for m in summary.mailboxes]
    context = {
        "home": home,
        "summary": summary,
        "page": page,
        "page_links": page.paginator.get_elided_page_range(page.number, on_each_side=2),
        "ellipsis": page.paginator.ELLIPSIS,
        "accounts": page.object_list,
        "rows": staffrows.rows(page.object_list, home, mailbox_ids),
        "sort": sort,
        "sort_choices": [(key, label) for key, (label, _) in dashboard.SORTS.items()],
        "as_of": home.checked_as_of,
        "history": dashboard.home_history(home, summary.mailboxes),
        "charts": dashboard.alive_charts(home, summary.mailboxes),
        "chart_min_checks": dashboard.CHART_MIN_CHECKS,
    }
    return render_to_string("accounts/_home_body.html", context, request)


@login_required
def account_action(request, ods_code, pk, action):
    """A confirmed change to one staff account of a home the user may change."""
    account = get_account_for_writer(request.user, ods_code, pk)
    home = account.home
    if action not in actions.ACTIONS:
        raise Http404("No such action.")
    spec, _ = actions.ACTIONS[action]
    linkable = actions.linkable_count(account) if action == "link" else 1
    if reason := actions.refusal(action, account, linkable):
        context = {"home": home, "account": account, "action": spec, "refused": reason}
        return render(request, "accounts/account_action.html", context, status=409)
    form = spec.make_form(account, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        messages.success(request, actions.perform(action, account, request.user, form.cleaned_data))
        return redirect("home_detail", ods_code=home.ods_code)
    context = {"home": home, "account": account, "action": spec, "form": form}
    if action == "removal-requested":
        context["mailto"] = actions.removal_mailto(account)
    return render(request, "accounts/account_action.html", context)


WORKLIST_PAGE = 50


@login_required
@admin_only
def worklist_view(request):
    """The admin's weekly worklist across their homes (worklist.py), one region at a time
    if they choose; people and mailboxes are paged apart. Below the region's form the page
    is rendered once and kept, as a home's page is, until a write renews the versions."""
    region = worklist.region_for(request.user, request.GET.get("region"))
    versions = worklistcounts.versions_for(request.user, region)  # read once for both lists
    people = worklist.rows(request.user, region, versions)
    boxes = worklist.mailboxes(request.user, region, versions)
    numbers = (
        _page_number(request.GET.get("page", ""), people.count, WORKLIST_PAGE),
        _page_number(request.GET.get("mailbox_page", ""), boxes.count, WORKLIST_PAGE),
    )
    body = worklistcounts.kept(
        versions,
        ("worklist page", region.pk if region else None, *numbers),
        partial(_worklist_body, request, region, people, boxes, *numbers),
        worklistcounts.PAGE_SECONDS,
    )
    context = {
        "region": region,
        "regions": dashboard.region_options(request.user, str(region.pk) if region else ""),
        "body": body,
        # The pages shown, for whoever reads the context (tests): built only if read.
        "people": SimpleLazyObject(partial(_page_of, people, numbers[0])),
        "mailboxes": SimpleLazyObject(partial(_page_of, boxes, numbers[1])),
        "last_run": _last_run(versions),
    }
    return render(request, "accounts/worklist.html", context)


def _page_of(rows, number: int) -> Page:
    return Paginator(rows, WORKLIST_PAGE).get_page(number)


def _worklist_body(request, region, people, boxes, number: int, mailbox_number: int) -> str:
    """The worklist's people and mailboxes, with page links that carry the region and the
    page numbers (not whatever else the first request's query string held)."""
    query = QueryDict(mutable=True)
    if region:
        query["region"] = str(region.pk)
    for name, value in (("page", number), ("mailbox_page", mailbox_number)):
        if value > 1:
            query[name] = str(value)
    people, boxes = _page_of(people, number), _page_of(boxes, mailbox_number)
    context = {
        "people": people,
        "people_rows": worklistrows.people(people.object_list),
        "mailboxes": boxes,
        "mailbox_rows": worklistrows.mailboxes(boxes.object_list),
        "helpdesk_phone": settings.HELPDESK_PHONE,
        "query": query,
    }
    return render_to_string("accounts/_worklist_body.html", context, request)


@login_required
@admin_only
def worklist_csv(request):
    region = worklist.region_for(request.user, request.GET.get("region"))
    AuditEntry.record(
        request.user, "Export download", subject="worklist", detail=f"region={region or 'all'}"
    )
    rows = worklist.csv_rows(request.user, region)
    return downloads.response(worklist.CSV_COLUMNS, rows, "worklist")

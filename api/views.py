"""The read API: thin views over the scoping door (accounts/scoping.py) and the pages' own
figure functions. GET only: nothing here writes.

A page of a list, and one home, is rendered once and kept (ApiView.kept) until a write
renews the versions of the regions it shows, as the HTML pages are (accounts/
worklistcounts.py). The token, the throttle, the filters and the cursor are checked on
every request, before anything kept is read."""

from functools import cache, partial
from urllib.parse import urlencode

from django.db.models import Q
from django.urls import reverse
from django.utils.functional import cached_property
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, generics
from rest_framework.response import Response

from accounts import dashboard, exports, rules, worklist, worklistcounts
from accounts.models import CheckRun
from accounts.scoping import accounts_for, get_home_for_user, homes_for, mailboxes_for

from . import figures, serializers, sqljson
from .pagination import AsOfCursorPagination, ByOdsCode, NewestFirst, WorklistPages
from .renderers import CsvRenderer, JSONRenderer, Rendered

JSON, CSV = "application/json", "text/csv"
ERRORS = {
    (400, JSON): OpenApiResponse(
        OpenApiTypes.OBJECT, description="A filter is not valid: field -> what is wrong."
    ),
    (401, JSON): OpenApiResponse(
        serializers.Problem, description="No token, or one that is unknown, expired or revoked."
    ),
    (404, JSON): OpenApiResponse(
        serializers.Problem, description="Not found, not yours, or a cursor we did not give."
    ),
    (429, JSON): OpenApiResponse(serializers.Problem, description="Too many requests."),
}


def listing(serializer, filters=None):
    """The schema of a list: JSON pages, or the same rows as CSV text."""
    return extend_schema(
        parameters=[filters] if filters else None,
        responses={
            (200, JSON): serializer(many=True),
            (200, CSV): OpenApiResponse(OpenApiTypes.STR, description="The page's rows as CSV."),
            **ERRORS,
        },
    )


class ApiView(generics.GenericAPIView):
    renderer_classes = [JSONRenderer]
    filters_class = None

    @cached_property
    def last_check_as_of(self):
        return figures.last_check_as_of()

    def filters(self) -> dict:
        """The query string's filters, checked: a bad value is a 400 naming the field."""
        if self.filters_class is None:
            return {}
        checked = self.filters_class(data=self.request.query_params)
        checked.is_valid(raise_exception=True)
        wanted = dict(checked.validated_data)
        region = wanted.pop("region", "").strip()  # only spaces is no filter
        return {**wanted, "region": region} if region else wanted

    def kept(self, versions: tuple | None, what: tuple, fresh) -> Response:
        """fresh()'s response, rendered once and kept under these versions (a page's
        worklistcounts.kept) until a write renews them; None keeps nothing. A body is decided
        by `what` (the view's own), the view, the full URI (the host and scheme are in its
        links; the query holds the filters, the cursor and the page size) and the media type
        (`indent=N`, CSV); the versions name the regions read, and so the scope. Only a 200
        is kept: fresh() raises for anything else. A query with a parameter the view does not
        read is answered anew: each would keep another copy of the page (a page of 1,000
        accounts is 190 kB)."""
        if versions is None or not self.query_params().issuperset(self.request.query_params):
            return fresh()
        request = self.request
        what = (
            "api",
            type(self).__name__,
            request.build_absolute_uri(),
            request.accepted_media_type,
            *what,
        )
        body = worklistcounts.kept(
            versions, what, lambda: self.rendered(fresh()), worklistcounts.PAGE_SECONDS
        )
        return Response(Rendered(body))

    @classmethod
    @cache
    def query_params(cls) -> frozenset[str]:
        """The query parameters this view reads: the format, its filters and its pages'."""
        names = {"format", *(cls.filters_class().fields if cls.filters_class else ())}
        pages = ("page_size_query_param", "cursor_query_param", "page_query_param")
        names.update(getattr(cls.pagination_class, name, None) for name in pages)
        return frozenset(names - {None})

    def rendered(self, response: Response) -> bytes:
        """The body as the response would render it (the same renderer, media type and
        context): the headers stay the response's own, set when it is answered."""
        assert response.status_code == 200
        request = self.request
        context = self.get_renderer_context()
        return request.accepted_renderer.render(response.data, request.accepted_media_type, context)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        # Errors are always JSON, whatever format the list was asked for in.
        if response.status_code >= 400 and isinstance(response.accepted_renderer, CsvRenderer):
            response.accepted_renderer = JSONRenderer()
            response.accepted_media_type = JSONRenderer.media_type
        response.add_post_render_callback(_forget_view)
        return response

    def dispatch(self, request, *args, **kwargs):
        response = super().dispatch(request, *args, **kwargs)
        del self.response  # see _forget_view
        return response


def _forget_view(response) -> None:
    """Once rendered, a response lets go of its view and of itself. DRF links them both
    ways (view.response, response.renderer_context["view"] and ["response"]), so every
    response, its page and its body were garbage in a cycle, kept until a collection of the
    oldest generation: a page of 1,000 rows is 380 kB (its rows, and its body)."""
    response.renderer_context = None


class ListView(ApiView, generics.ListAPIView):
    renderer_classes = [JSONRenderer, CsvRenderer]
    pagination_class = AsOfCursorPagination
    csv_columns: list[str] = []
    kept_pages = True  # the rows are homes, accounts, mailboxes: what the versions cover

    def list(self, request, *args, **kwargs):
        """A page kept for an admin, whose homes are whole regions (a manager's are not:
        worklistcounts.versions_for gives None). A bad filter (400) or cursor (404) is
        refused first, whatever is kept."""
        self.filters()
        if isinstance(self.paginator, AsOfCursorPagination):
            self.paginator.decode_cursor(request)
        # The envelope's as-of date is the last national check's that ended well: a save or
        # deletion of one renews every version (worklistcounts.connect), so it is not read.
        versions = worklistcounts.versions_for(request.user, None) if self.kept_pages else None
        return self.kept(versions, (), self.fresh_list)

    def fresh_list(self):
        """A serializer with a json_row has its JSON pages written by the database
        (api/sqljson.py); CSV, and other databases, go through the serializer."""
        request = self.request
        json_row = getattr(self.serializer_class, "json_row", None)
        as_json = request.accepted_renderer.format == "json" and sqljson.available()
        if json_row is None or not as_json:
            return super().list(request)
        key = self.pagination_class.ordering.lstrip("-")
        page = self.paginate_queryset(self.get_queryset().values(key, row=json_row()))
        rows = sqljson.RawJSON(f"[{','.join(row['row'] for row in page)}]")
        return self.get_paginated_response(rows)


@listing(serializers.HomeSerializer, serializers.HomeFilters)
class HomeList(ListView):
    """The homes you may see, by ODS code, with their worst mailbox risk, the soonest date a
    mailbox becomes at risk, and their accounts by state."""

    serializer_class = serializers.HomeSerializer
    pagination_class = ByOdsCode
    filters_class = serializers.HomeFilters
    csv_columns = [
        "ods_code",
        "name",
        "region",
        "worst_risk",
        "soonest_forecast",
        *(f"accounts_by_state_{s.value}" for s in rules.AccountState),
        "as_of",
    ]

    def get_queryset(self):
        homes = homes_for(self.request.user).select_related("region")
        wanted = self.filters()
        if "region" in wanted:
            homes = homes.filter(region__name=wanted["region"])
        if "worst_risk" in wanted:
            homes = homes.filter(risk_rank=rules.RISK_ORDER.index(wanted["worst_risk"]))
        return homes

    def paginate_queryset(self, queryset):
        page = super().paginate_queryset(queryset)
        counts = figures.counts_by_state([home.pk for home in page])
        for home in page:
            home.counts = counts[home.pk]
        return page


@extend_schema(responses={(200, JSON): serializers.HomeDetailSerializer, **ERRORS})
class HomeDetail(ApiView, generics.RetrieveAPIView):
    """One home with its shared mailboxes and, as its page shows them, its first accounts by
    disable date (soonest first); `all_accounts` pages through every one of them."""

    serializer_class = serializers.HomeDetailSerializer

    def retrieve(self, request, *args, **kwargs):
        """Kept under the version of the home's region once the user may see it (the body is
        the home's alone, whoever asks), as the home's page is."""
        home = self.scoped_home()
        versions = worklistcounts.versions_of_home(home)
        return self.kept(versions, (home.pk,), partial(super().retrieve, request))

    def scoped_home(self):
        ods_code = rules.normalise_ods_code(self.kwargs["ods_code"])
        if not rules.is_valid_ods_code(ods_code):
            raise exceptions.NotFound("No such care home.")
        return get_home_for_user(self.request.user, ods_code)

    def get_object(self):
        # Read again after its version: a write since then is in it, or renews the version.
        home = self.scoped_home()
        # What the home page's card shows but its to-do lists (dashboard.summaries), which
        # the API does not give: its mailboxes by email, and its accounts by state.
        home.counts, total = figures.one_home_counts(home.pk)
        home.mailbox_list = list(home.mailboxes.order_by("email"))
        dashboard.name_linked(home.mailbox_list)
        first = dashboard.home_accounts(home, "disable", 1, total)
        for account in first.object_list:
            account.mailbox_emails = [mailbox.email for mailbox in account.mailbox_list]
        home.account_list = first.object_list
        home.accounts_total = first.paginator.count
        home.all_accounts = self.request.build_absolute_uri(
            f"{reverse('api:accounts')}?{urlencode({'ods_code': home.ods_code})}"
        )
        return home


@listing(serializers.AccountSerializer, serializers.AccountFilters)
class AccountList(ListView):
    """Staff NHSmail accounts of the homes you may see, in a stable order (cursor pages)."""

    serializer_class = serializers.AccountSerializer
    filters_class = serializers.AccountFilters
    csv_columns = exports.ACCOUNT_COLUMNS

    def get_queryset(self):
        accounts = (
            accounts_for(self.request.user)
            .select_related("home")
            .only(*serializers.AccountSerializer.reads)
        )
        wanted = self.filters()
        if "ods_code" in wanted:
            accounts = accounts.filter(home__ods_code=rules.normalise_ods_code(wanted["ods_code"]))
        if "state" in wanted:
            accounts = accounts.filter(state=wanted["state"])
        if "region" in wanted:
            accounts = accounts.filter(home__region__name=wanted["region"])
        if "disable_date_before" in wanted:
            accounts = accounts.filter(disable_date__lt=wanted["disable_date_before"])
        return accounts


@listing(serializers.MailboxSerializer, serializers.MailboxFilters)
class MailboxList(ListView):
    """Shared mailboxes of the homes you may see, with their risk and forecast."""

    serializer_class = serializers.MailboxSerializer
    filters_class = serializers.MailboxFilters
    csv_columns = exports.MAILBOX_COLUMNS

    def get_queryset(self):
        mailboxes = (
            mailboxes_for(self.request.user)
            .select_related("home")
            .only(*serializers.MailboxSerializer.reads)
        )
        wanted = self.filters()
        if "ods_code" in wanted:
            mailboxes = mailboxes.filter(
                home__ods_code=rules.normalise_ods_code(wanted["ods_code"])
            )
        if "risk" in wanted:
            mailboxes = mailboxes.filter(risk=wanted["risk"])
        if "region" in wanted:
            mailboxes = mailboxes.filter(home__region__name=wanted["region"])
        return mailboxes


@listing(serializers.RunSerializer)
class RunList(ListView):
    """Check runs, newest first (admins only): full runs, and one-home runs of your homes."""

    serializer_class = serializers.RunSerializer
    pagination_class = NewestFirst
    csv_columns = [
        "run",
        "as_of",
        "ods_code",
        "trigger",
        "scope_homes",
        "full",
        "outcome",
        "error",
        "started_at",
        "finished_at",
        "checked",
        "newly_flagged",
        "recovered",
        "events",
        *(f"accounts_{s.value}" for s in rules.AccountState),
        *(f"mailboxes_{r.value}" for r in rules.MailboxRisk),
    ]
    TOTALS = ("checked", "newly_flagged", "recovered", "events", "accounts", "mailboxes")
    # Not kept: a run is recorded by writes that renew no version (a skipped or failed run,
    # the start of a run), and an admin's runs are not their regions' homes.
    kept_pages = False

    def get_queryset(self):
        user = self.request.user
        if not user.is_admin:
            raise exceptions.NotFound()
        runs = CheckRun.objects.all()
        if not user.sees_every_home:  # a recheck of some homes may hold other regions'
            runs = runs.filter(
                Q(home__isnull=True, scope_homes__isnull=True) | Q(home__in=homes_for(user))
            )
        return runs.select_related("home")

    def paginate_queryset(self, queryset):
        runs = super().paginate_queryset(queryset)
        every_home = self.request.user.sees_every_home
        rows = []
        for run in runs:
            row = {**run.summary(), "ods_code": run.home.ods_code if run.home else None}
            if run.home_id is None and not every_home:
                row.update(dict.fromkeys(self.TOTALS))
            rows.append(row)
        return rows


@listing(serializers.WorklistRowSerializer)
class Worklist(ListView):
    """Admins: the people their homes must act on (log in, reactivate, remove, chase), the
    most pressing first: the worklist page's rows, by the same rule as the home cards."""

    serializer_class = serializers.WorklistRowSerializer
    pagination_class = WorklistPages
    csv_columns = list(serializers.WorklistRowSerializer().fields)

    def get_queryset(self):
        if not self.request.user.is_admin:
            raise exceptions.NotFound()
        return worklist.rows(self.request.user)

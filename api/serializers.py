"""What the API answers, field by field, in the contract's names. Read only: no serializer
here is ever used to write."""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db.models import Case, F, Q, Value, When
from django.utils.functional import cached_property
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import CheckRun
from accounts.rules import AccountState, MailboxRisk
from accounts.todos import TODOS

from .sqljson import DaysBetween, JSONObject


class Plain(serializers.Serializer):
    """A read-only serializer whose rows are written by one loop over its fields, each read
    by its source and written by the field's own to_representation: what DRF's
    Serializer.to_representation does, without its per-field lookups and checks, which cost
    most of a page of 1,000 accounts (tests/test_api.py pins that the two agree)."""

    def to_representation(self, instance):
        row = {}
        for name, source, write in self._plan:
            value = instance
            for attr in source:
                if value is None:
                    break
                value = getattr(value, attr)
            row[name] = None if value is None else write(value)
        return row

    @cached_property
    def _plan(self) -> list[tuple]:
        # source_attrs is [] for source="*" (SerializerMethodField): the row itself.
        return [(f.field_name, f.source_attrs, f.to_representation) for f in self._readable_fields]


def _counts(name: str, keys) -> type[serializers.Serializer]:
    fields = {key.value: serializers.IntegerField() for key in keys}
    return type(name, (serializers.Serializer,), fields)


StateCounts = _counts("StateCounts", AccountState)
RiskCounts = _counts("RiskCounts", MailboxRisk)


class Problem(serializers.Serializer):
    detail = serializers.CharField()


AS_OF_HELP = "The date these figures count from: when the home was last judged."


class HomeSerializer(Plain):
    ods_code = serializers.CharField()
    name = serializers.CharField()
    region = serializers.CharField(source="region.name", allow_null=True)
    worst_risk = serializers.ChoiceField(choices=MailboxRisk.choices, allow_null=True)
    soonest_forecast = serializers.DateField(allow_null=True)
    accounts_by_state = StateCounts(source="counts")
    as_of = serializers.DateField(source="checked_as_of", allow_null=True, help_text=AS_OF_HELP)


def _json_row(judged_by: str, **fields) -> JSONObject:
    """An account's or mailbox's row as JSON text (api/sqljson.py): its home's ODS code, its
    email and name, `fields`, and as_of, its home's check date once `judged_by` (the state,
    the risk) is set, as the serializers' get_as_of give it."""
    judged = Q(**{f"{judged_by}__isnull": False}) & ~Q(**{judged_by: ""})
    return JSONObject(
        ods_code=F("home__ods_code"),
        email=F("email"),
        display_name=F("display_name"),
        **fields,
        as_of=Case(When(judged, then=F("home__checked_as_of"))),
    )


class AccountSerializer(Plain):
    ods_code = serializers.CharField(source="home.ods_code")
    email = serializers.EmailField()
    display_name = serializers.CharField()
    state = serializers.ChoiceField(choices=AccountState.choices, allow_null=True)
    last_activity = serializers.DateField(source="last_activity_date", allow_null=True)
    # The model's own figure, as the pages and exports show it: as of the home's check date.
    days_inactive = serializers.IntegerField(allow_null=True)
    disable_date = serializers.DateField(allow_null=True)
    as_of = serializers.SerializerMethodField(help_text=AS_OF_HELP)
    # The columns the fields above read: the list reads only these (a page of 1,000 rows
    # costs less to fetch and to build). A field added above must be added here too;
    # test_queries_do_not_grow_with_the_page_size fails otherwise.
    reads = ("email", "display_name", "state", "last_activity_date", "disable_date",
             "home__ods_code", "home__checked_as_of")  # fmt: skip

    @extend_schema_field(serializers.DateField(allow_null=True))
    def get_as_of(self, account):
        return account.home.checked_as_of if account.state else None

    @staticmethod
    def json_row() -> JSONObject:
        """A row as the fields above write it, written by the database (api/sqljson.py)."""
        return _json_row(
            "state",
            state=F("state"),
            last_activity=F("last_activity_date"),
            # rules.days_inactive_as_judged: from the activity date behind the disable date.
            days_inactive=Case(
                When(
                    state__isnull=False,
                    then=DaysBetween(F("home__checked_as_of"), F("disable_date"))
                    + Value(settings.INACTIVITY_DAYS),
                )
            ),
            disable_date=F("disable_date"),
        )


class MailboxSerializer(Plain):
    ods_code = serializers.CharField(source="home.ods_code")
    email = serializers.EmailField()
    display_name = serializers.CharField()
    risk = serializers.ChoiceField(choices=MailboxRisk.choices, allow_null=True)
    alive_accounts = serializers.IntegerField(allow_null=True)
    forecast_date = serializers.DateField(allow_null=True)
    as_of = serializers.SerializerMethodField(help_text=AS_OF_HELP)
    reads = ("email", "display_name", "risk", "alive_accounts", "forecast_date",
             "home__ods_code", "home__checked_as_of")  # fmt: skip

    @extend_schema_field(serializers.DateField(allow_null=True))
    def get_as_of(self, mailbox):
        return mailbox.home.checked_as_of if mailbox.risk else None

    @staticmethod
    def json_row() -> JSONObject:
        """A row as the fields above write it, written by the database (api/sqljson.py)."""
        return _json_row(
            "risk",
            risk=F("risk"),
            alive_accounts=F("alive_accounts"),
            forecast_date=F("forecast_date"),
        )


class HomeAccountSerializer(AccountSerializer):
    ods_code = None  # the home's, given once above
    left_on = serializers.DateField(allow_null=True)
    mailboxes = serializers.ListField(child=serializers.EmailField(), source="mailbox_emails")


class HomeMailboxSerializer(MailboxSerializer):
    ods_code = None
    linked_accounts = serializers.SerializerMethodField(
        help_text="The first linked people, as the home page names them."
    )
    linked_more = serializers.IntegerField(help_text="How many more are linked.")

    @extend_schema_field(serializers.ListField(child=serializers.EmailField()))
    def get_linked_accounts(self, mailbox):
        return [account.email for account in mailbox.linked]


class HomeDetailSerializer(HomeSerializer):
    registered_landline = serializers.CharField()
    cqc_location_id = serializers.CharField()
    mailboxes = HomeMailboxSerializer(many=True, source="mailbox_list")
    accounts = HomeAccountSerializer(
        many=True,
        source="account_list",
        help_text="The first accounts by disable date, soonest first, as on the home page.",
    )
    accounts_total = serializers.IntegerField()
    all_accounts = serializers.URLField(help_text="Every account of the home, in cursor pages.")


class RunSerializer(serializers.Serializer):
    """A check run as check_inactivity --json reports it. The counts of a run over more than
    one home are null for an admin limited to some regions: they cover other homes too."""

    run = serializers.IntegerField()
    as_of = serializers.DateField()
    ods_code = serializers.CharField(allow_null=True, help_text="Set when one home was checked.")
    trigger = serializers.ChoiceField(choices=CheckRun.Trigger.choices)
    scope_homes = serializers.IntegerField(
        allow_null=True, help_text="How many homes were checked; null for every home."
    )
    full = serializers.BooleanField()
    outcome = serializers.ChoiceField(choices=CheckRun.Outcome.choices)
    error = serializers.CharField(allow_null=True)
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    checked = serializers.IntegerField(allow_null=True)
    newly_flagged = serializers.IntegerField(allow_null=True)
    recovered = serializers.IntegerField(allow_null=True)
    events = serializers.IntegerField(allow_null=True)
    accounts = StateCounts(allow_null=True)
    mailboxes = RiskCounts(allow_null=True)


# What a filter may hold, written into the schema too: an ODS code as the imports take it, and
# no NUL character anywhere (PostgreSQL cannot compare one).
ODS_CODE = RegexValidator(
    r"^ *[A-Za-z0-9]{3,6} *$", "Not an ODS code: use 3 to 6 letters or digits."
)
NO_NUL = RegexValidator(r"^[^\x00]*$", "A NUL character is not allowed.")


def _ods_code():
    return serializers.CharField(
        required=False, validators=[ODS_CODE], help_text="One home's ODS code."
    )


def _region():
    # Kept as given (ApiView.filters trims it): only spaces is no filter, not an error.
    return serializers.CharField(
        required=False,
        trim_whitespace=False,
        validators=[NO_NUL],
        help_text="A region's name, as in the portal.",
    )


class AccountFilters(serializers.Serializer):
    ods_code = _ods_code()
    state = serializers.ChoiceField(choices=AccountState.choices, required=False)
    region = _region()
    disable_date_before = serializers.DateField(
        required=False, help_text="Only accounts whose disable date is before this date."
    )


class MailboxFilters(serializers.Serializer):
    ods_code = _ods_code()
    risk = serializers.ChoiceField(choices=MailboxRisk.choices, required=False)
    region = _region()


class HomeFilters(serializers.Serializer):
    region = _region()
    worst_risk = serializers.ChoiceField(choices=MailboxRisk.choices, required=False)


class WorklistRowSerializer(serializers.Serializer):
    """One person an admin's homes must act on, as the worklist page lists them."""

    todo = serializers.ChoiceField(choices=[(t, t) for t in TODOS])
    what_to_do = serializers.CharField()
    name = serializers.CharField()
    email = serializers.CharField()
    home = serializers.CharField()
    ods_code = serializers.CharField()
    state = serializers.CharField(help_text="The account's state in words.")
    log_in_by = serializers.DateField(allow_null=True)
    removal_requested_on = serializers.DateField(allow_null=True)
    waiting_since = serializers.DateField(allow_null=True)
    days_waiting = serializers.IntegerField(allow_null=True)
    as_of = serializers.DateField(help_text=AS_OF_HELP)

"""Care homes, their shared mailboxes and staff NHSmail accounts, and portal users.
Days inactive is never stored: it grows for everyone every night and is derived when read
(rules.days_inactive)."""

from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower, Trim, Upper
from django.utils import timezone
from django.utils.functional import cached_property
from simple_history.models import HistoricalRecords

from .. import rules
from ..rules import AccountState, MailboxRisk, ReportedStatus


def validate_ods_code(value: str) -> None:
    if not rules.is_valid_ods_code(rules.normalise_ods_code(value)):
        raise ValidationError(
            "%(value)s is not a valid ODS code: use 3 to 6 letters or digits.",
            params={"value": value},
        )


def validate_plausible_date(value) -> None:
    """rules.date_problem for forms over these models (the admin): no year 10000 to break
    a page later."""
    day = rules.london_date(value) if isinstance(value, datetime) else value
    if day is not None and (problem := rules.date_problem(day)):
        raise ValidationError("%(value)s " + problem + ".", params={"value": day})


class Region(models.Model):
    """The local authority or ICB area that groups homes."""

    name = models.CharField(max_length=120, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CareHomeQuerySet(models.QuerySet):
    def for_user(self, user) -> "CareHomeQuerySet":
        """The one door: the homes this user may see. Every view and export goes through it."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if user.sees_every_home:
            return self
        if user.role == User.Role.ADMIN:
            return self.filter(region__in=user.regions.all())
        return self.filter(managers=user)


class CareHome(models.Model):
    ods_code = models.CharField(
        "ODS code", max_length=6, unique=True, validators=[validate_ods_code]
    )
    name = models.CharField(max_length=200)
    registered_landline = models.CharField(max_length=30, blank=True)
    cqc_location_id = models.CharField("CQC location ID", max_length=20, blank=True)
    region = models.ForeignKey(
        Region, null=True, blank=True, on_delete=models.PROTECT, related_name="homes"
    )
    # Filled by the nightly check from the home's mailboxes, so that ranking thousands of
    # homes is an index scan: the worst risk's place in rules.RISK_ORDER (len = unchecked).
    risk_rank = models.PositiveSmallIntegerField(db_default=len(rules.RISK_ORDER))
    soonest_forecast = models.DateField(null=True, blank=True)
    # The date its accounts' states were last judged as of (the nightly check's date, or
    # today after a recheck of this home): every figure shown for them counts from it.
    checked_as_of = models.DateField(null=True, blank=True)
    history = HistoricalRecords(excluded_fields=["risk_rank", "soonest_forecast", "checked_as_of"])

    objects = CareHomeQuerySet.as_manager()

    class Meta:
        ordering = ["ods_code"]
        indexes = [models.Index(fields=["risk_rank", "soonest_forecast", "ods_code"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(ods_code=Upper(Trim("ods_code"))), name="carehome_ods_code_normalised"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.ods_code})"

    def save(self, *args, **kwargs):
        self.ods_code = rules.normalise_ods_code(self.ods_code)
        validate_ods_code(self.ods_code)
        super().save(*args, **kwargs)

    @property
    def worst_risk(self) -> str | None:
        # A home just created holds the database's default until it is read back.
        return rules.worst_risk(self.risk_rank)


class SharedMailbox(models.Model):
    home = models.ForeignKey(CareHome, on_delete=models.CASCADE, related_name="mailboxes")
    email = models.EmailField(unique=True)
    display_name = models.CharField(max_length=200, blank=True)
    # Filled by the nightly check.
    risk = models.CharField(max_length=12, choices=MailboxRisk.choices, null=True, blank=True)
    alive_accounts = models.PositiveIntegerField(null=True, blank=True)
    forecast_date = models.DateField(null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords(
        excluded_fields=["risk", "alive_accounts", "forecast_date", "checked_at"]
    )

    class Meta:
        ordering = ["email"]
        verbose_name_plural = "shared mailboxes"
        indexes = [models.Index(fields=["risk", "forecast_date"])]
        constraints = [
            models.CheckConstraint(condition=Q(email=Lower("email")), name="mailbox_email_lower")
        ]

    def __str__(self) -> str:
        return self.email

    def save(self, *args, **kwargs):
        self.email = rules.normalise_email(self.email)
        super().save(*args, **kwargs)


class StaffAccount(models.Model):
    # Indexed by account_home_disable below, which leads with the home.
    home = models.ForeignKey(
        CareHome, on_delete=models.CASCADE, related_name="accounts", db_index=False
    )
    email = models.EmailField(unique=True)
    display_name = models.CharField(max_length=200, blank=True)
    reported_status = models.CharField(
        max_length=10, choices=ReportedStatus.choices, default=ReportedStatus.ACTIVE
    )
    last_activity = models.DateTimeField(
        null=True, blank=True, validators=[validate_plausible_date]
    )
    # The London date of last_activity: kept with it so the check compares plain dates.
    last_activity_date = models.DateField(null=True, blank=True, editable=False)
    first_recorded = models.DateField(
        default=rules.london_today, validators=[validate_plausible_date]
    )
    left_on = models.DateField(
        "left on", null=True, blank=True, validators=[validate_plausible_date]
    )
    # A log-in someone vouched for, kept apart from what NHSmail reports: a manager who saw
    # it (attested_by set) or the person's own check-in from a reminder (attested_by empty).
    attested_on = models.DateField(
        "log-in vouched for on", null=True, blank=True, validators=[validate_plausible_date]
    )
    attested_by = models.ForeignKey(
        "User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    reminders_opt_out = models.BooleanField(
        db_default=False, help_text="The person asked for no reminder emails."
    )
    removal_requested_on = models.DateField(
        null=True, blank=True, validators=[validate_plausible_date]
    )
    removal_requested_by = models.ForeignKey(
        "User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    mailboxes = models.ManyToManyField(
        SharedMailbox, through="MailboxLink", related_name="accounts", blank=True
    )
    # Filled by the nightly check.
    state = models.CharField(max_length=10, choices=AccountState.choices, null=True, blank=True)
    disable_date = models.DateField(null=True, blank=True)
    state_changed_at = models.DateTimeField(null=True, blank=True)
    # Who changed what by hand; the check's own writes are recorded as state changes instead.
    history = HistoricalRecords(excluded_fields=["state", "disable_date", "state_changed_at"])

    class Meta:
        ordering = ["email"]
        verbose_name = "staff NHSmail account"
        # No index holds state or dates the check writes but the disable date: PostgreSQL
        # can then update rows in place (HOT, with the fillfactor set in migrations 0004 and
        # 0015) when their state changes, which is most of a night. The disable date moves
        # only with a new log-in; its index finds a worklist page's people by log-in date
        # (a scan of every account otherwise: 234 ms to 2 ms at 1.5 million). Rows nearly
        # never have the two below set: partial indexes cost a row that does not move in
        # place nothing. A home's accounts are found by account_home_disable, in the home
        # page's first order (dashboard.SORTS["disable"]): a page of a home of 5,000 is read
        # from the index, not sorted from all of them.
        indexes = [
            models.Index(
                fields=["home", "disable_date", "email", "id"], name="account_home_disable"
            ),
            models.Index(fields=["disable_date"], name="account_disable_date"),
            models.Index(
                fields=["attested_by"],
                condition=Q(attested_by__isnull=False),
                name="account_attested_by_set",
            ),
            models.Index(
                fields=["removal_requested_by"],
                condition=Q(removal_requested_by__isnull=False),
                name="account_removal_by_set",
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(email=Lower("email")), name="account_email_lower")
        ]

    def __str__(self) -> str:
        return self.email

    def save(self, *args, **kwargs):
        self.email = rules.normalise_email(self.email)
        self.last_activity_date = rules.london_date(self.last_activity)
        super().save(*args, **kwargs)

    @property
    def activity_on(self):
        return rules.activity_date(self.last_activity_date, self.first_recorded, self.attested_on)

    @property
    def removal_overdue(self) -> bool:
        """Removal was asked for long enough ago that the helpdesk should be chased."""
        if self.removal_requested_on is None:
            return False
        as_of = self.home.checked_as_of or rules.london_today()
        return (as_of - self.removal_requested_on).days >= settings.REMOVAL_CHASE_DAYS

    @property
    def days_inactive(self) -> int | None:
        """As the check judged it, as of its home's check date (None until judged)."""
        if self.state is None or self.home.checked_as_of is None:
            return None
        return rules.days_inactive_as_judged(
            self.disable_date, self.home.checked_as_of, rules.Thresholds.from_settings()
        )


class MailboxLink(models.Model):
    """An individual account linked to a shared mailbox of the same home."""

    # The unique (account, mailbox) and the (mailbox, account) indexes below serve both
    # foreign keys; single-column ones would only slow down imports. No database-level
    # foreign keys: their checks cost an import of 200,000 linked accounts about 20 s of 30 s
    # for the links (README, bench/imports.py). Integrity rests on the import engine, which
    # links only accounts and mailboxes it has just joined by email (tests/test_import_scale),
    # and on Django's deletion, which still cascades to the links.
    account = models.ForeignKey(
        StaffAccount,
        on_delete=models.CASCADE,
        related_name="links",
        db_index=False,
        db_constraint=False,
    )
    mailbox = models.ForeignKey(
        SharedMailbox,
        on_delete=models.CASCADE,
        related_name="links",
        db_index=False,
        db_constraint=False,
    )
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "mailbox"], name="unique_mailbox_link")
        ]
        indexes = [models.Index(fields=["mailbox", "account"])]

    def __str__(self) -> str:
        return f"{self.account_id} -> {self.mailbox_id}"

    def save(self, *args, **kwargs):
        self.clean()
        super().save(*args, **kwargs)

    def clean(self):
        if self.account.home_id != self.mailbox.home_id:
            raise ValidationError(
                "An account can only be linked to a shared mailbox of its own home."
            )


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email, password=None, **extra):
        user = self.model(email=rules.normalise_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email, password=None, **extra):
        extra.update(is_staff=True, is_superuser=True, role=User.Role.ADMIN)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A portal sign-in, by email. Managers see the homes they are linked to; admins see
    every home, or only those of the regions they are limited to."""

    class Role(models.TextChoices):
        MANAGER = "manager", "Care-home manager"
        ADMIN = "admin", "Regional admin"

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=200, blank=True)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MANAGER)
    homes = models.ManyToManyField(CareHome, blank=True, related_name="managers")
    regions = models.ManyToManyField(
        Region, blank=True, related_name="admins", help_text="Limits an admin to these regions."
    )
    digest_opt_out = models.BooleanField(
        db_default=False, help_text="No weekly digest or alert emails."
    )
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    history = HistoricalRecords(excluded_fields=["password", "last_login"])

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"

    class Meta:
        ordering = ["email"]
        constraints = [
            models.CheckConstraint(condition=Q(email=Lower("email")), name="user_email_lower")
        ]

    def __str__(self) -> str:
        return self.email

    def save(self, *args, **kwargs):
        self.email = rules.normalise_email(self.email)
        super().save(*args, **kwargs)

    @property
    def is_admin(self) -> bool:
        return self.is_superuser or self.role == self.Role.ADMIN

    @cached_property
    def sees_every_home(self) -> bool:
        """Superusers, and admins not limited to regions."""
        return self.is_superuser or (self.role == self.Role.ADMIN and not self.regions.exists())

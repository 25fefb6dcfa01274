"""What the portal's jobs record: check runs and the changes they found, imports, the
audit log and the emails it decided to send."""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from ..rules import AccountState, MailboxRisk
from .homes import CareHome, SharedMailbox, StaffAccount, User


class CheckRunQuerySet(models.QuerySet):
    def national(self) -> "CheckRunQuerySet":
        """Runs that judged every home (not a recheck of some homes)."""
        return self.filter(home__isnull=True, scope_homes__isnull=True)


class CheckRun(models.Model):
    """One run of the nightly check, with what it found."""

    class Outcome(models.TextChoices):
        RUNNING = "running", "Running"
        OK = "ok", "OK"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped: another run held the lock"

    class Trigger(models.TextChoices):
        BEAT = "beat", "Nightly schedule"
        COMMAND = "command", "Command"
        ADMIN = "admin", "Admin"
        ACTION = "action", "A manager's action (one home)"
        IMPORT = "import", "An import (its homes)"

    as_of = models.DateField()
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    home = models.ForeignKey(
        "CareHome",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Set when only this home was checked.",
    )
    scope_homes = models.PositiveIntegerField(
        null=True, blank=True, help_text="How many homes were checked; empty for every home."
    )
    full = models.BooleanField(
        db_default=False, help_text="Every mailbox and home recomputed, not only those touched."
    )
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.RUNNING)
    error = models.TextField(blank=True)
    checked = models.PositiveIntegerField(default=0)
    newly_flagged = models.PositiveIntegerField(default=0)
    recovered = models.PositiveIntegerField(default=0)
    events = models.PositiveIntegerField(default=0)
    accounts_by_state = models.JSONField(default=dict, blank=True)
    mailboxes_by_risk = models.JSONField(default=dict, blank=True)

    objects = CheckRunQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["outcome", "-started_at"])]

    def __str__(self) -> str:
        return f"Check as of {self.as_of} ({self.get_outcome_display()})"

    def summary(self) -> dict:
        """The contract's JSON shape for check_inactivity --json."""
        return {
            "run": self.pk,
            "as_of": self.as_of.isoformat(),
            "outcome": self.outcome,
            "error": self.error or None,
            "trigger": self.trigger,
            "scope_homes": self.scope_homes,
            "full": self.full,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "checked": self.checked,
            "newly_flagged": self.newly_flagged,
            "recovered": self.recovered,
            "events": self.events,
            "accounts": {s.value: self.accounts_by_state.get(s.value, 0) for s in AccountState},
            "mailboxes": {r.value: self.mailboxes_by_risk.get(r.value, 0) for r in MailboxRisk},
        }


class StateChange(models.Model):
    """A change of an account's state or a mailbox's risk, recorded by one check run."""

    # The check writes these rows in bulk from ids it has just joined, so the database's
    # per-row foreign-key triggers (a million at a first run) are left out; Django still
    # cascades deletes.
    run = models.ForeignKey(
        CheckRun, on_delete=models.CASCADE, related_name="changes", db_constraint=False
    )
    as_of = models.DateField()
    account = models.ForeignKey(
        StaffAccount,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="changes",
        db_constraint=False,
        db_index=False,
    )
    mailbox = models.ForeignKey(
        SharedMailbox,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="changes",
        db_constraint=False,
        db_index=False,
    )
    from_value = models.CharField(max_length=12, blank=True)
    to_value = models.CharField(max_length=12)

    class Meta:
        ordering = ["-run_id", "id"]
        # Each row has one subject: whole-column indexes would hold a NULL for every row.
        indexes = [
            models.Index(
                fields=["account"], condition=Q(account__isnull=False), name="change_account_set"
            ),
            models.Index(
                fields=["mailbox"], condition=Q(mailbox__isnull=False), name="change_mailbox_set"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(account__isnull=True, mailbox__isnull=False)
                | Q(account__isnull=False, mailbox__isnull=True),
                name="statechange_one_subject",
            )
        ]

    def __str__(self) -> str:
        subject = self.account_id and f"account {self.account_id}" or f"mailbox {self.mailbox_id}"
        return f"{subject}: {self.from_value or '-'} -> {self.to_value}"


class PendingCheck(models.Model):
    """A shared mailbox (or a home's set of mailboxes) changed outside the check since the
    last national run: written by database triggers on links and mailboxes (migration 0014),
    so imports' bulk SQL is covered too; the next national run recomputes these and deletes
    the rows it read."""

    mailbox_id = models.IntegerField(null=True)
    home_id = models.IntegerField(null=True)

    def __str__(self) -> str:
        return f"mailbox {self.mailbox_id} / home {self.home_id}"


class WorklistVersion(models.Model):
    """The version of one region's to-dos (`region_key`: the region's id, 0 for homes
    without one): every write that may change them gives it a new one in its own
    transaction (worklistcounts.changed), so the worklist's counts, kept under the versions
    read before counting, are never served after a write that changed them."""

    region_key = models.PositiveIntegerField(primary_key=True)
    version = models.BigIntegerField()

    def __str__(self) -> str:
        return f"region {self.region_key}: version {self.version}"


class ImportRecord(models.Model):
    """One import of a CSV file, whatever its outcome."""

    class Outcome(models.TextChoices):
        OK = "ok", "Imported"
        PARTIAL = "partial", "Imported, bad rows skipped"
        FAILED = "failed", "Nothing imported"
        DRY_RUN = "dry_run", "Checked only (dry run)"
        # A portal upload handed to the worker, until the import's own record is written.
        QUEUED = "queued", "Waiting for the worker"
        RUNNING = "running", "Importing"

    class Source(models.TextChoices):
        COMMAND = "command", "Command"
        WEB = "web", "Portal upload"

    kind = models.CharField(max_length=10)
    source = models.CharField(max_length=10, choices=Source.choices)
    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    file_name = models.CharField(max_length=255)
    size = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    encoding = models.CharField(max_length=20, blank=True)
    rows = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    error_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    # Our column -> the file's header for it, as the check found them.
    columns = models.JSONField(default=dict, blank=True)
    # Ties a portal upload to its records (preview and import).
    token = models.CharField(max_length=32, blank=True, db_index=True)
    # What the file was taken to be ("Microsoft 365 active users report (CSV)"), and for
    # a Microsoft 365 report the date it was true (its Report Refresh Date).
    file_format = models.CharField(max_length=200, blank=True)
    report_date = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} import of {self.file_name} ({self.get_outcome_display()})"

    def finish(self, result) -> None:
        """Save what the import did (the first 200 errors are kept)."""
        for name in ("encoding", "rows", "created", "updated", "unchanged", "error_count",
                     "file_format", "report_date"):  # fmt: skip
            setattr(self, name, getattr(result, name))
        self.skipped = result.skipped_count
        self.outcome = result.outcome
        self.errors = result.error_lines()[:200]
        self.columns = result.columns
        self.finished_at = timezone.now()
        self.save()


class MailboxAliveChange(models.Model):
    """How many linked accounts kept a mailbox alive, recorded by a run when it changed:
    the history behind the home page's chart."""

    run = models.ForeignKey(
        CheckRun, on_delete=models.CASCADE, related_name="alive_changes", db_constraint=False
    )
    mailbox = models.ForeignKey(
        SharedMailbox, on_delete=models.CASCADE, related_name="alive_changes", db_constraint=False
    )
    alive = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["mailbox", "run"])]

    def __str__(self) -> str:
        return f"{self.mailbox_id}: {self.alive} after run {self.run_id}"


class AuditEntry(models.Model):
    """Who did what, when, to which home: every manager action, import, export download and
    manual check. Written by the portal, never edited."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL)
    action = models.CharField(max_length=40)
    home = models.ForeignKey(CareHome, null=True, blank=True, on_delete=models.SET_NULL)
    subject = models.CharField(max_length=254, blank=True)
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.user_id} {self.action} {self.subject}"

    @classmethod
    def record(cls, user, action: str, home=None, subject: str = "", detail: str = ""):
        return cls.objects.create(
            user=user if user and user.is_authenticated else None,
            action=action,
            home=home,
            subject=subject,
            detail=detail,
        )


class Notification(models.Model):
    """One email the portal decided to send, keyed by whom, what kind and what it is about,
    so a re-run of any job sends nothing twice; failed sends are retried by the next run."""

    class Kind(models.TextChoices):
        REMINDER = "reminder", "Staff reminder"
        DIGEST = "digest", "Manager's weekly digest"
        ALERT = "alert", "Admin alert"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        SENDING = "sending", "Being sent"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed (will be retried)"
        GAVE_UP = "gave_up", "Failed too often"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    recipient = models.EmailField()
    about = models.CharField(max_length=40, help_text="The date, week or run it is about.")
    subject = models.CharField(max_length=200)
    account = models.ForeignKey(StaffAccount, null=True, blank=True, on_delete=models.CASCADE)
    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.CASCADE)
    context = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    # Set when a delivery claims the row, so two deliveries never send it twice.
    claimed_at = models.DateTimeField(null=True, blank=True)
    used_at = models.DateTimeField(null=True, blank=True, help_text="Check-in link used.")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["recipient", "kind", "about"], name="notification_once")
        ]
        indexes = [models.Index(fields=["status", "attempts"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} to {self.recipient} ({self.about}): {self.status}"

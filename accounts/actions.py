"""What a manager can do about one staff account from the home page. Each action is a
confirmed POST, leaves an audit entry, and re-runs the rules for the home at once."""

from dataclasses import dataclass
from urllib.parse import quote

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from . import worklistcounts
from .checks import run_check
from .models import AuditEntry, CheckRun, MailboxLink, SharedMailbox, StaffAccount
from .rules import AccountState, ReportedStatus, date_problem, london_today


class DateForm(forms.Form):
    on = forms.DateField(
        label="Date",
        help_text="For example, 27/11/2026",
        input_formats=["%d/%m/%Y", "%Y-%m-%d"],
        widget=forms.DateInput(format="%d/%m/%Y"),
    )

    def clean_on(self):
        on = self.cleaned_data["on"]
        if on > london_today():
            raise ValidationError("The date cannot be in the future.")
        if problem := date_problem(on):
            raise ValidationError(f"The date {problem}.")
        return on


class LinkForm(forms.Form):
    mailbox = forms.ModelChoiceField(label="Shared mailbox", queryset=SharedMailbox.objects.none())

    def __init__(self, *args, account: StaffAccount, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["mailbox"].queryset = SharedMailbox.objects.filter(home=account.home).exclude(
            links__account=account
        )


@dataclass(frozen=True)
class Action:
    slug: str
    title: str
    button: str
    explain: str
    form: type[forms.Form]

    def make_form(self, account: StaffAccount, data=None) -> forms.Form:
        if self.form is LinkForm:
            return LinkForm(data, account=account)
        return self.form(data, initial={"on": london_today()})


def mark_left(account: StaffAccount, user, data) -> str:
    account.left_on = data["on"]
    account.save(update_fields=["left_on"])
    name = account.display_name or account.email
    return f"{name} is marked as having left on {data['on']:%d %B %Y}."


def removal_requested(account: StaffAccount, user, data) -> str:
    """Asking NHSmail to remove someone means they have left, from that day at the latest."""
    account.removal_requested_on = data["on"]
    account.removal_requested_by = user
    if account.left_on is None or account.left_on > data["on"]:
        account.left_on = data["on"]
    account.save(update_fields=["removal_requested_on", "removal_requested_by", "left_on"])
    return (
        f"Removal requested for {account.email} on {data['on']:%d %B %Y}: it is off your "
        "to-do list while NHSmail deals with it, and comes back if it is not done within "
        f"{settings.REMOVAL_CHASE_DAYS} days."
    )


def seen_log_in(account: StaffAccount, user, data) -> str:
    account.attested_on = data["on"]
    account.attested_by = user
    account.save(update_fields=["attested_on", "attested_by"])
    name = account.display_name or account.email
    return f"Recorded that you saw {name} log in on {data['on']:%d %B %Y}."


def link_mailbox(account: StaffAccount, user, data) -> str:
    MailboxLink.objects.get_or_create(account=account, mailbox=data["mailbox"])
    return f"{account.email} is now linked to {data['mailbox'].email}."


ACTIONS = {
    "left": (
        Action("left", "Mark as left", "Mark as left",
               "They will be listed as a leaver to remove from NHSmail and the shared mailbox.",
               DateForm),
        mark_left,
    ),
    "removal-requested": (
        Action("removal-requested", "Record that removal was requested", "Record the request",
               "Record the date you asked the NHSmail team to remove this person and revoke "
               "their access to the shared mailbox.", DateForm),
        removal_requested,
    ),
    "seen-log-in": (
        Action("seen-log-in", "I have seen this person log in", "Record it",
               "Your word is kept apart from what NHSmail reports and shown as such. It counts "
               "as activity until NHSmail's own report is newer.", DateForm),
        seen_log_in,
    ),
    "link": (
        Action("link", "Link to a shared mailbox", "Link",
               "Record that this person can open the shared mailbox (ask the NHSmail team to "
               "add them first).", LinkForm),
        link_mailbox,
    ),
}  # fmt: skip


def refusal(slug: str, account: StaffAccount, linkable_mailboxes: int) -> str | None:
    """Why an action cannot succeed for this account, or None: the home page offers only
    the actions with no refusal, and the action page refuses the others with this reason.
    `linkable_mailboxes` counts the home's shared mailboxes this account is not linked to."""
    name = account.display_name or account.email
    deleted = (
        account.state == AccountState.DELETED or account.reported_status == ReportedStatus.DELETED
    )
    gone = deleted or account.state == AccountState.LEFT
    why = "has no NHSmail account any more" if deleted else "has left"
    if slug == "seen-log-in" and gone:
        return f"{name} {why}: there is no log-in to record."
    if slug == "left" and deleted:
        return f"NHSmail has already removed {name}'s account: there is nothing to mark."
    if slug == "left" and account.state == AccountState.LEFT:
        return f"{name} is already marked as having left."
    if slug == "removal-requested" and deleted:
        return f"NHSmail has already removed {name}'s account."
    if slug == "link" and gone:
        return f"{name} {why}: they cannot be linked to a shared mailbox."
    if slug == "link" and not linkable_mailboxes:
        return f"This home has no other shared mailbox to link {name} to."
    return None


def offers(account: StaffAccount, linkable_mailboxes: int) -> list[str]:
    """The actions the home page offers for this account: only those that can succeed,
    removal requests only for leavers not yet asked for (or overdue). `linkable_mailboxes`
    as for refusal()."""
    if account.state == AccountState.LEFT:
        wanted = (
            []
            if account.removal_requested_on and not account.removal_overdue
            else ["removal-requested"]
        )
    else:
        wanted = ["seen-log-in", "left", "link"]
    return [slug for slug in wanted if refusal(slug, account, linkable_mailboxes) is None]


def linkable_count(account: StaffAccount) -> int:
    return SharedMailbox.objects.filter(home=account.home).exclude(links__account=account).count()


def perform(slug: str, account: StaffAccount, user, data) -> str:
    """Apply the action, audit it, and bring the home's states up to date now."""
    action, apply = ACTIONS[slug]
    with transaction.atomic():
        message = apply(account, user, data)
        worklistcounts.changed([account.home_id])
    AuditEntry.record(user, action.title, home=account.home, subject=account.email, detail=message)
    run = run_check(london_today(), trigger=CheckRun.Trigger.ACTION, home=account.home)
    if run.outcome == CheckRun.Outcome.SKIPPED:
        message += (
            " The nightly check was busy, so the states on this page are not updated yet:"
            " the next check (tonight at the latest) brings them up to date."
        )
    return message


def removal_mailto(account: StaffAccount) -> str:
    """A pre-filled email to the NHSmail helpdesk asking to remove a leaver."""
    home = account.home
    mailboxes = ", ".join(m.email for m in account.mailboxes.all()) or "the home's shared mailbox"
    subject = f"Remove leaver {account.email} ({home.name}, ODS {home.ods_code})"
    body = (
        f"Hello,\n\nPlease remove the NHSmail account {account.email} "
        f"({account.display_name or 'name not recorded'}), who no longer works at "
        f"{home.name} (ODS code {home.ods_code}), and revoke their access to our shared "
        f"mailbox: {mailboxes}.\n\nThank you."
    )
    return f"mailto:{settings.HELPDESK_EMAIL}?subject={quote(subject)}&body={quote(body)}"

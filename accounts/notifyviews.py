"""Pages behind the links in emails: a staff member's check-in, and email preferences."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from .checks import run_check
from .models import AuditEntry, CheckRun, Notification
from .rules import london_today
from .scoping import get_account_for_check_in, get_user_for_writer
from .throttle import throttled

USED = ("This link has been used already",
        "Your check-in was recorded the first time. Nothing more to do.")  # fmt: skip


def _problem(request, title: str, text: str):
    return render(request, "accounts/link_problem.html", {"title": title, "text": text}, status=400)


@never_cache  # the page names the person and their home: never kept by a cache
@throttled("check-in", methods=("GET", "POST"))
def check_in(request, token):
    """From a reminder: "I have just logged in" (one use), or "stop these reminders".
    Nothing changes on GET, so a mail scanner that follows links does no harm."""
    try:
        reminder, account = get_account_for_check_in(token)
    except signing.SignatureExpired:
        return _problem(request, "This link has expired",
                        "Check-in links work for 14 days. Just log in to NHSmail: that is "
                        "what keeps your account.")  # fmt: skip
    except (signing.BadSignature, Notification.DoesNotExist):
        return _problem(request, "This link does not work",
                        "It may have been copied only in part. Log in to NHSmail: that is what "
                        "keeps your account.")  # fmt: skip
    if request.method == "POST" and request.POST.get("choice") == "stop":
        account.reminders_opt_out = True
        account.save(update_fields=["reminders_opt_out"])
        AuditEntry.record(None, "Stop reminders", home=account.home, subject=account.email)
        return render(request, "accounts/check_in_done.html", {"stopped": True, "account": account})
    if request.method == "POST":
        claimed = Notification.objects.filter(pk=reminder.pk, used_at__isnull=True).update(
            used_at=timezone.now()
        )
        if not claimed:
            return _problem(request, *USED)
        account.attested_on = london_today()
        account.attested_by = None  # their own word, not a manager's
        account.save(update_fields=["attested_on", "attested_by"])
        AuditEntry.record(None, "Self check-in", home=account.home, subject=account.email)
        run_check(london_today(), trigger=CheckRun.Trigger.ACTION, home=account.home)
        return render(request, "accounts/check_in_done.html", {"account": account})
    if reminder.used_at:
        return _problem(request, *USED)
    return render(request, "accounts/check_in.html", {"account": account})


class PreferencesForm(forms.Form):
    """Phrased as a yes: the stored field (User.digest_opt_out) is its opposite."""

    send_weekly = forms.BooleanField(
        label="Send me the weekly email",
        help_text="What your care homes need to do, and an alert when a shared mailbox has "
        "nobody left who can open it.",
        required=False,
    )


@login_required
def email_preferences(request):
    user = get_user_for_writer(request.user)
    data = request.POST if request.method == "POST" else None
    form = PreferencesForm(data, initial={"send_weekly": not user.digest_opt_out})
    if request.method == "POST" and form.is_valid():
        user.digest_opt_out = not form.cleaned_data["send_weekly"]
        user.save(update_fields=["digest_opt_out"])
        messages.success(request, "Your email preferences are saved.")
        return redirect("email_preferences")
    return render(request, "accounts/email_preferences.html", {"form": form})

from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm

from .models import CareHome
from .rules import normalise_email, normalise_ods_code


class EmailAuthenticationForm(AuthenticationForm):
    username = forms.EmailField(
        label="Email address",
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "The email address or password is not right. Check them and try again.",
    }

    def clean_username(self):
        return normalise_email(self.cleaned_data["username"])


class HomeChoiceField(forms.ModelChoiceField):
    """One of the user's homes: a list to choose from, or for someone with hundreds of homes
    a box for its ODS code (a list that long helps nobody)."""

    LIST_AT_MOST = 200

    def __init__(self, **kwargs):
        super().__init__(
            to_field_name="ods_code",
            empty_label="None: the file has an ODS code column",
            error_messages={"invalid_choice": "Choose one of your homes, by its ODS code."},
            **kwargs,
        )

    def offer(self, homes) -> None:
        self.queryset = homes.order_by("name", "ods_code")
        if self.queryset.count() > self.LIST_AT_MOST:
            self.widget = forms.TextInput(
                attrs={"autocomplete": "off", "class": "nhsuk-input--width-10"}
            )
            self.help_text += " Type its ODS code."

    def to_python(self, value):
        return super().to_python(normalise_ods_code(value) if isinstance(value, str) else value)


class ImportUploadForm(forms.Form):
    kind = forms.ChoiceField(
        label="What the file holds",
        choices=[
            ("accounts", "Staff NHSmail accounts"),
            ("mailboxes", "Shared mailboxes"),
            ("homes", "Care homes"),
        ],
        widget=forms.RadioSelect,
        initial="accounts",
    )
    file = forms.FileField(
        label="CSV file or Excel workbook",
        help_text="A CSV file, an Excel workbook (.xlsx) or a Microsoft 365 usage report, "
        "as downloaded. The formats and columns are listed below.",
    )
    home = HomeChoiceField(
        queryset=CareHome.objects.none(),
        required=False,
        label="Which home the file is for (optional)",
        help_text="Only for a report with no ODS code column, such as a Microsoft 365 report: "
        "every row is taken to be for this home.",
    )

    def __init__(self, *args, homes=None, **kwargs):
        super().__init__(*args, **kwargs)
        if homes is not None:
            self.fields["home"].offer(homes)

    def clean_home(self):
        home = self.cleaned_data.get("home")
        if home and self.cleaned_data.get("kind") == "homes":
            raise forms.ValidationError(
                "A care homes file lists many homes: leave the home empty for it."
            )
        return home

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > settings.IMPORT_UPLOAD_MAX_BYTES:
            raise forms.ValidationError(
                f"The file is {upload.size / 1_048_576:,.1f} MB; the most you can upload is "
                f"{settings.IMPORT_UPLOAD_MAX_BYTES / 1_048_576:,.0f} MB."
            )
        return upload


class ImportConfirmForm(forms.Form):
    skip_bad_rows = forms.BooleanField(
        label="Skip the rows with errors and import the rest", required=False
    )


class PortalPasswordResetForm(PasswordResetForm):
    """The reset email is sent by the worker: the page does the same work (queue one task)
    whether or not the address has a sign-in, so its timing tells nobody which addresses
    do. Absolute links in the email come from SITE_URL, not from the request's Host."""

    def save(self, **kwargs):
        """Queue the email; raises one of tasks.BROKER_DOWN if it cannot be queued."""
        from .tasks import publish, send_password_reset

        publish(send_password_reset, args=[self.cleaned_data["email"]])

    @classmethod
    def send_now(cls, email: str) -> int:
        """Email a reset link to the sign-in with this address, if there is one (the
        worker's half); returns how many emails were sent."""
        form = cls({"email": email})
        if not form.is_valid():
            return 0
        sent = len(list(form.get_users(form.cleaned_data["email"])))
        scheme, _, domain = settings.SITE_URL.partition("://")
        PasswordResetForm.save(
            form, domain_override=domain.rstrip("/"), use_https=scheme == "https"
        )
        return sent

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from .rules import normalise_email


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

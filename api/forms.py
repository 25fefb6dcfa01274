from django import forms
from django.conf import settings


def _day_choices():
    choices = [(d, f"{d} days") for d in (7, 30, 90, 180, 365) if d <= settings.API_TOKEN_MAX_DAYS]
    return choices


class NewTokenForm(forms.Form):
    name = forms.CharField(
        label="What is this token for?",
        help_text="For example: Power BI dashboard for the north team",
        max_length=100,
    )
    days = forms.TypedChoiceField(
        label="Expires after",
        coerce=int,
        choices=_day_choices,
        initial=90,
        widget=forms.RadioSelect,
    )

"""The facts pages and emails repeat (the thresholds, the helpdesk's number, email and phone
menu), read from settings in one place: a context processor for pages, and notify.render
for emails, both call portal_facts."""

import re

from django.conf import settings


def facts() -> dict:
    phone = settings.HELPDESK_PHONE
    return {
        "inactivity_days": settings.INACTIVITY_DAYS,
        "warning_days": settings.WARNING_DAYS,
        "helpdesk_phone": phone,
        # tel: links take the digits (and a leading +) only.
        "helpdesk_tel": re.sub(r"[^0-9+]", "", phone),
        "helpdesk_email": settings.HELPDESK_EMAIL,
        "helpdesk_menu": settings.HELPDESK_MENU,
    }


def portal_facts(request=None) -> dict:
    """As `portal` in every template's context: {{ portal.helpdesk_phone }}."""
    return {"portal": facts()}

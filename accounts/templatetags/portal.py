from django import template
from django.utils.html import format_html

from accounts import dashboard
from accounts.rules import AccountState, MailboxRisk

register = template.Library()


def _tag(css: str, label: str):
    return format_html('<strong class="nhsuk-tag {}">{}</strong>', css, label)


@register.simple_tag
def risk_tag(risk):
    if not risk:
        return _tag("nhsuk-tag--grey", "Not checked yet")
    return _tag(dashboard.RISK_TAG[risk], MailboxRisk(risk).label)


@register.simple_tag
def state_tag(state):
    if not state:
        return _tag("nhsuk-tag--grey", "Not checked yet")
    return _tag(dashboard.STATE_TAG[state], AccountState(state).label)


@register.filter
def risk_meaning(risk):
    return dashboard.RISK_MEANING.get(risk, "This mailbox has not been checked yet")


@register.filter
def state_label(state):
    return AccountState(state).label if state else "Not checked"


@register.filter
def get_item(mapping, key):
    return mapping.get(key)

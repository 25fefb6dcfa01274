import html
import re
from functools import cache

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from accounts import dashboard, rules

register = template.Library()


def _tag(css: str, label: str):
    return format_html('<strong class="nhsuk-tag {}">{}</strong>', css, label)


@register.simple_tag
@cache  # one of a handful of risks: the same markup every time
def risk_tag(risk):
    if not risk:
        return _tag("nhsuk-tag--grey", "Not checked yet")
    return _tag(dashboard.RISK_TAG[risk], rules.risk_label(risk))


@register.simple_tag
@cache
def state_tag(state):
    if not state:
        return _tag("nhsuk-tag--grey", "Not checked yet")
    return _tag(dashboard.STATE_TAG[state], rules.state_label(state))


@register.filter
def risk_meaning(risk):
    return rules.RISK_MEANING.get(risk, "This mailbox has not been checked yet")


@register.filter
def risk_label(risk):
    return rules.risk_label(risk)


@register.filter
def state_meaning(state):
    return rules.STATE_MEANING.get(state, "Not checked yet")


@register.filter
def state_label(state):
    return rules.state_label(state)


@register.filter
def email_breaks(value):
    """An email address that may wrap before each dot and after the @ (a <wbr>, which copying
    leaves out), so a narrow screen breaks it into readable parts, not letter by letter."""
    return SafeString("<wbr>".join(html.escape(part) for part in _BREAKS.split(value or "")))


_BREAKS = re.compile(r"(?=\.)|(?<=@)")


@register.filter
def get_item(mapping, key):
    return mapping.get(key)

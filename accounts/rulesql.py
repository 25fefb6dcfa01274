"""The rules of rules.py as SQL expressions, for the set-based check and its benchmark.

Every state, status and risk literal below comes from the TextChoices in rules.py, and the
activity date is written once (`activity`), so that the pure rules, the check and the
benchmark's bound cannot drift apart (tests/test_rules.py proves they agree). The
expressions take the named parameters %(as_of)s, %(inactive_before)s and %(at_risk_before)s
(see `params`).
"""

from datetime import date

from .rules import (
    GONE,
    KEEPS_MAILBOX_ALIVE,
    RISK_ORDER,
    AccountState,
    MailboxRisk,
    ReportedStatus,
    Thresholds,
)

# The rank of a home with no checked mailbox: after every risk (CareHome.risk_rank).
UNCHECKED_RANK = len(RISK_ORDER)


def literal(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def in_list(values) -> str:
    return ", ".join(literal(v) for v in values)


def params(as_of: date, thresholds: Thresholds) -> dict:
    return {
        "as_of": as_of,
        "inactive_before": thresholds.inactive_on_or_before(as_of),
        "at_risk_before": thresholds.at_risk_on_or_before(as_of),
    }


def activity(t: str = "a") -> str:
    """rules.activity_date over the account row aliased `t`."""
    reported = f"COALESCE({t}.last_activity_date, {t}.first_recorded)"
    return f"""(CASE WHEN {t}.attested_on > {reported} OR {reported} IS NULL
        THEN {t}.attested_on ELSE {reported} END)"""


def account_state(t: str = "a") -> str:
    """rules.account_state over the account row aliased `t`: first match wins."""
    on = activity(t)
    return f"""CASE
        WHEN {t}.reported_status = {literal(ReportedStatus.LEAVER)}
            OR {t}.left_on <= %(as_of)s THEN {literal(AccountState.LEFT)}
        WHEN {t}.reported_status = {literal(ReportedStatus.DELETED)}
            THEN {literal(AccountState.DELETED)}
        WHEN {t}.reported_status = {literal(ReportedStatus.DISABLED)}
            THEN {literal(AccountState.DISABLED)}
        WHEN {on} <= %(inactive_before)s THEN {literal(AccountState.INACTIVE)}
        WHEN {on} <= %(at_risk_before)s THEN {literal(AccountState.AT_RISK)}
        ELSE {literal(AccountState.ACTIVE)}
    END"""


def plus_days(vendor: str, column: str, days: int) -> str:
    """Date arithmetic differs by database; days is an int from settings, never user input."""
    if vendor == "postgresql":
        return f"({column} + {int(days)})"
    return f"date({column}, '+{int(days)} days')"


def keeps_alive(state: str) -> str:
    return f"{state} IN ({in_list(KEEPS_MAILBOX_ALIVE)})"


def is_gone(state: str) -> str:
    return f"{state} IN ({in_list(GONE)})"


def mailbox_risk(alive: str, reachable: str) -> str:
    """rules.mailbox_risk from the counts of linked accounts alive and not gone."""
    return f"""CASE
        WHEN COALESCE({reachable}, 0) = 0 THEN {literal(MailboxRisk.ORPHANED)}
        WHEN COALESCE({alive}, 0) = 0 THEN {literal(MailboxRisk.AT_RISK)}
        WHEN {alive} = 1 THEN {literal(MailboxRisk.SINGLE_USER)}
        ELSE {literal(MailboxRisk.HEALTHY)}
    END"""


def risk_rank(risk: str) -> str:
    """A risk's place in rules.RISK_ORDER (NULL for an unchecked mailbox)."""
    whens = " ".join(f"WHEN {literal(r)} THEN {n}" for n, r in enumerate(RISK_ORDER))
    return f"CASE {risk} {whens} END"

"""Making, revoking and checking API tokens: one service for the page, the command and the
authentication class. Every creation and revocation leaves an audit entry."""

import secrets
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from accounts.models import AuditEntry

from .models import ApiToken, hash_token

# Tokens start with this, so that a leaked one is easy to recognise in a log or a repository.
TOKEN_START = "chp_"  # noqa: S105 (a label, not a secret)
PREFIX_LENGTH = 12


class TokenRefused(Exception):
    """Why a presented token does not authenticate: unknown, revoked, expired, or its user
    may no longer sign in."""


def max_days() -> int:
    return settings.API_TOKEN_MAX_DAYS


def issue(user, *, name: str, days: int, actor, now=None) -> tuple[ApiToken, str]:
    """A new token for user, valid for days; returns the record and the secret, which is
    never stored and cannot be shown again."""
    if not 1 <= days <= max_days():
        raise ValueError(f"days must be between 1 and {max_days()}, not {days}")
    now = now or timezone.now()
    secret = TOKEN_START + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=secret[:PREFIX_LENGTH],
        key_hash=hash_token(secret),
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    AuditEntry.record(
        actor,
        "API token created",
        subject=user.email,
        detail=f"{token.prefix}… '{name}', expires {token.expires_at:%Y-%m-%d %H:%M %Z}",
    )
    return token, secret


def revoke(token: ApiToken, actor, now=None) -> bool:
    """Revoke once: a second call (or a race with another) changes and records nothing."""
    now = now or timezone.now()
    changed = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now)
    if changed:
        token.revoked_at = now
        AuditEntry.record(
            actor, "API token revoked", subject=token.user.email, detail=f"{token.prefix}…"
        )
    return bool(changed)


def check(secret: str, now=None) -> ApiToken:
    """The token for this secret if it may be used now; TokenRefused says why not."""
    token = ApiToken.objects.select_related("user").filter(key_hash=hash_token(secret)).first()
    if token is None:
        raise TokenRefused("Unknown API token.")
    if token.revoked_at:
        raise TokenRefused("This API token has been revoked.")
    if token.expires_at <= (now or timezone.now()):
        raise TokenRefused("This API token has expired: make a new one at /api-tokens/.")
    if not token.user.is_active:
        raise TokenRefused("The portal user of this API token can no longer sign in.")
    return token

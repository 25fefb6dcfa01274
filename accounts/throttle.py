"""Per-address limits on the doors anyone can knock at: sign-in, password reset and the
check-in links. django-axes locks one account after wrong passwords from one address; this
stops one address trying many accounts, many resets or many links.

Counts live in Django's cache, shared by every process: Redis when REDIS_URL is set, else
files under VAR_DIR (a file lock makes each count exact across processes on the host). If
the cache cannot be reached, the doors stay open: a limiter must not lock everyone out."""

import fcntl
import logging
import time
from contextlib import contextmanager
from functools import wraps

from axes.helpers import get_client_ip_address
from django.conf import settings
from django.core.cache import cache
from django.shortcuts import render

log = logging.getLogger(__name__)

# What counts as one attempt, by door: sign-in and check-in count failures (a sign-in that
# does not redirect, a link that does not work), password reset every request.
COUNTS = {
    "sign-in": lambda response: response.status_code != 302,
    "password-reset": lambda response: True,
    "check-in": lambda response: response.status_code == 400,
}
LABELS = {
    "sign-in": "sign-in attempts",
    "password-reset": "password reset requests",
    "check-in": "check-in links that did not work",
}


@contextmanager
def _file_lock():
    with open(settings.VAR_DIR / "throttle.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _key(door: str, address: str, now: float) -> tuple[str, int]:
    """The counter for this door, address and time window, and seconds left in the window."""
    window = settings.THROTTLE_RATES[door][1]
    start = int(now // window) * window
    return f"throttle:{door}:{address}:{start}", start + window - int(now)


def blocked_for(door: str, address: str, now: float | None = None) -> int:
    """Seconds until this address may try this door again; 0 if it may now."""
    key, left = _key(door, address, now or time.time())
    try:
        count = cache.get(key, 0)
    except Exception as exc:  # the cache is down: stay open (see the module's note)
        log.warning("throttle: cache unreachable (%s); not limiting", exc)
        return 0
    return left if count >= settings.THROTTLE_RATES[door][0] else 0


def count(door: str, address: str, now: float | None = None) -> None:
    key, left = _key(door, address, now or time.time())
    try:
        if settings.REDIS_URL:
            if not cache.add(key, 1, timeout=left + 1):
                cache.incr(key)  # one atomic INCR
        else:
            # Other caches read and write: the file lock makes that exact across processes.
            with _file_lock():
                cache.set(key, cache.get(key, 0) + 1, timeout=left + 1)
    except Exception as exc:  # the cache is down: stay open (see the module's note)
        log.warning("throttle: cache unreachable (%s); not counting", exc)


def throttled(door: str, methods=("POST",)):
    """Refuse a view with 429 to an address over its limit for this door; count attempts."""
    counts = COUNTS[door]

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method not in methods:
                return view(request, *args, **kwargs)
            address = get_client_ip_address(request) or "unknown"
            if wait := blocked_for(door, address):
                return too_many(request, door, wait)
            response = view(request, *args, **kwargs)
            if counts(response):
                count(door, address)
            return response

        return wrapper

    return decorator


def too_many(request, door: str, wait: int):
    limit, window = settings.THROTTLE_RATES[door]
    context = {
        "what": LABELS[door],
        "limit": limit,
        "window_minutes": max(1, round(window / 60)),
        "wait_minutes": max(1, -(-wait // 60)),
        "door": door,
    }
    response = render(request, "too_many_requests.html", context, status=429)
    response["Retry-After"] = str(wait)
    return response

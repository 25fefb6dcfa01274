"""Requests refused before any view sees them, each with a plain answer instead of a 500:
a NUL character anywhere in the address or headers (PostgreSQL cannot store it, and no
real link holds one), and a body larger than the page that receives it allows. And no
page shown to someone signed in is kept by a browser or proxy cache."""

import time
from urllib.parse import unquote

from django.conf import settings
from django.http import HttpResponseBadRequest
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers


def _has_nul(request) -> bool:
    if "\x00" in request.path or "\x00" in unquote(request.META.get("QUERY_STRING", "")):
        return True
    return any(
        "\x00" in value
        for key, value in request.META.items()
        if key.startswith("HTTP_") and isinstance(value, str)
    )


class RefuseNulMiddleware:
    """400 for a NUL byte in the path, the query string, a header or a cookie."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if _has_nul(request):
            return HttpResponseBadRequest(
                "Bad request: the address holds a character that is not allowed (NUL).",
                content_type="text/plain; charset=utf-8",
            )
        return self.get_response(request)


def body_limit(request) -> tuple[int, int]:
    """(the largest request body a page takes, the size to tell people). The import upload
    takes a file of up to IMPORT_UPLOAD_MAX_BYTES, plus room for the form around it; every
    other page only small forms (DATA_UPLOAD_MAX_MEMORY_SIZE)."""
    if request.path_info == reverse("import_new"):
        return settings.IMPORT_UPLOAD_MAX_BYTES + 1_048_576, settings.IMPORT_UPLOAD_MAX_BYTES
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE, settings.DATA_UPLOAD_MAX_MEMORY_SIZE


class RefuseLargeBodyMiddleware:
    """413 with a clear page when Content-Length is over the page's limit, decided before
    anything (the CSRF check included) reads the body. Place it after the authentication
    middleware, so the page knows who is signed in."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return HttpResponseBadRequest("Bad request: Content-Length is not a number.")
        limit, shown = body_limit(request)
        if length > limit:
            # Nothing is read, so no token can be checked: the page offers no form.
            return render(
                request,
                "request_too_large.html",
                {"size_mb": length / 1_048_576, "limit_mb": shown / 1_048_576},
                status=413,
            )
        return self.get_response(request)


class NoStoreWhenSignedInMiddleware:
    """Every page and download answered to a signed-in user carries personal data (homes,
    staff, exports), so none may be stored: Cache-Control: no-store, private. Public pages
    for visitors stay cacheable; views for links in emails (check-in) say so themselves."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.user.is_authenticated:
            add_never_cache_headers(response)
        return response


class RefreshSessionMiddleware:
    """The 8-hour idle timeout without a session write on every request: a signed-in
    session's expiry (SESSION_COOKIE_AGE from its last save) is pushed back at most once every
    SESSION_REFRESH_SECONDS, by marking the session changed. So a session ends between
    SESSION_COOKIE_AGE minus SESSION_REFRESH_SECONDS and SESSION_COOKIE_AGE after its last
    request, and a page costs no database write. Sits after SessionMiddleware."""

    KEY = "_refreshed_at"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        session = getattr(request, "session", None)
        if session is None or session.is_empty():
            return response
        now = int(time.time())
        if session.modified or now - session.get(self.KEY, 0) >= settings.SESSION_REFRESH_SECONDS:
            session[self.KEY] = now  # saved anyway, or due: the expiry moves on with it
        return response


def session_started(sender, request, user, **kwargs):
    """Signing in saves the session: its expiry counts from now (connected in apps.py)."""
    if getattr(request, "session", None) is not None:
        request.session[RefreshSessionMiddleware.KEY] = int(time.time())

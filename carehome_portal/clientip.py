"""The address a request came from, for the sign-in lockout (django-axes) and the throttle.
Behind a proxy every request comes from the proxy: then the address is the last hop the
proxy added to X-Forwarded-For, trusted only from the proxies in FORWARDED_ALLOW_IPS (the
variable gunicorn reads for the same purpose). A client's own X-Forwarded-For is ignored."""

from django.conf import settings


def client_ip(request) -> str:
    remote = request.META.get("REMOTE_ADDR", "")
    trusted = settings.FORWARDED_ALLOW_IPS
    if "*" in trusted or remote in trusted:
        hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        if hops[-1]:
            return hops[-1]
    return remote

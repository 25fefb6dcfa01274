"""gunicorn settings for production: `gunicorn carehome_portal.wsgi -c gunicorn.conf.py`."""

import gc
import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", 2))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 60))
graceful_timeout = 30
keepalive = 5
max_requests = 2000
max_requests_jitter = 200
accesslog = "-"
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def post_worker_init(worker):
    """The worker has loaded Django and the portal: those long-lived objects (modules,
    models, settings) leave the garbage collector's view, so its full collections, which a
    page of 1,000 rows sets off every few requests, walk only what requests made (a full
    collection took 57-76 ms before, 17-21 ms after, in a process that had served the API's
    1,000-account page; README, "Pages at scale")."""
    gc.collect()
    gc.freeze()

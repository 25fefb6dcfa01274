"""One settings module, driven by the environment (see .env.example).

Development defaults need no server: SQLite under var/ and a filesystem Celery broker.
With DEBUG off, a missing SECRET_KEY stops start-up.
"""

import sys
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")
VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

VERSION = "0.1.0"
DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it in the environment (or DEBUG=true for development)."
        )
    SECRET_KEY = "development-only-key-not-for-production-use-0123456789abcdef"  # noqa: S105

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "accounts.adminsite.PortalAdminConfig",  # the Django admin, for those who see every home
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "crispy_forms",
    "django_celery_beat",
    "axes",
    "csp",
    "simple_history",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "accounts",
    "guidance",
    "api",
]

MIDDLEWARE = [
    "carehome_portal.logs.RequestIdMiddleware",
    "carehome_portal.middleware.RefuseNulMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "carehome_portal.middleware.RefreshSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Before any view hook (the CSRF check reads the body in one): refuse by Content-Length.
    "carehome_portal.middleware.RefuseLargeBodyMiddleware",
    "carehome_portal.middleware.NoStoreWhenSignedInMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "carehome_portal.urls"
WSGI_APPLICATION = "carehome_portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.facts.portal_facts",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'portal.sqlite3'}"),
}
# Persistent connections suit gunicorn's fixed pool of threads (see README, Production, for
# sizing). runserver starts a thread per request, each of which would keep its connection
# open until the server ran out: there, and by default in development, none is kept.
RUNSERVER = sys.argv[1:2] == ["runserver"]
DATABASES["default"]["CONN_MAX_AGE"] = (
    0 if RUNSERVER else env.int("CONN_MAX_AGE", default=0 if DEBUG else 60)
)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "accounts.adminperms.NationalAdminBackend",
]
# Sign-in lockout: 5 failures for one account from one address lock it for 15 minutes.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# Behind a proxy, the client's address comes from X-Forwarded-For, from these proxies only.
FORWARDED_ALLOW_IPS = env.list("FORWARDED_ALLOW_IPS", default=["127.0.0.1"])
AXES_CLIENT_IP_CALLABLE = "carehome_portal.clientip.client_ip"
AXES_USERNAME_FORM_FIELD = "username"  # the sign-in form's field (it holds the email)
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
# Per-address limits (accounts/throttle.py): (attempts, seconds). Sign-in and check-in count
# failures only; password reset counts every request.
THROTTLE_RATES = {
    "sign-in": (env.int("THROTTLE_SIGN_IN_FAILURES", default=20), 15 * 60),
    "password-reset": (env.int("THROTTLE_PASSWORD_RESETS", default=10), 60 * 60),
    "check-in": (env.int("THROTTLE_CHECK_IN_FAILURES", default=20), 60 * 60),
}
PASSWORD_RESET_TIMEOUT = 60 * 60 * 2  # a reset link works for two hours
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "Europe/London"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

CRISPY_ALLOWED_TEMPLATE_PACKS = ("nhsuk",)
CRISPY_TEMPLATE_PACK = "nhsuk"

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str(
    "DEFAULT_FROM_EMAIL", default="NHSmail hygiene portal <noreply@localhost>"
)

# Security: production (DEBUG off) gets HTTPS-only cookies, HSTS and a redirect to HTTPS.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_COOKIES = env.bool("SECURE_COOKIES", default=not DEBUG)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_AGE = 8 * 60 * 60
# Idle sessions end after SESSION_COOKIE_AGE; the expiry is refreshed at most once every
# SESSION_REFRESH_SECONDS (carehome_portal.middleware.RefreshSessionMiddleware) instead of a
# session write on every request (SESSION_SAVE_EVERY_REQUEST).
SESSION_REFRESH_SECONDS = env.int("SESSION_REFRESH_SECONDS", default=5 * 60)
SESSION_COOKIE_HTTPONLY = True

# Content Security Policy: our own scripts and styles only, nothing inline. The Django admin,
# behind a superuser sign-in, keeps its own inline bits and is left out.
CONTENT_SECURITY_POLICY = {
    "EXCLUDE_URL_PREFIXES": ["/admin/"],
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# The hygiene rules' thresholds (days without activity).
INACTIVITY_DAYS = env.int("INACTIVITY_DAYS", default=90)
WARNING_DAYS = env.int("WARNING_DAYS", default=60)
if not 0 < WARNING_DAYS < INACTIVITY_DAYS:
    raise ImproperlyConfigured(
        f"WARNING_DAYS ({WARNING_DAYS}) must be above 0 and below "
        f"INACTIVITY_DAYS ({INACTIVITY_DAYS})."
    )

# The NHSmail helpdesk, as every page, card and email names it (accounts/facts.py).
HELPDESK_PHONE = env.str("HELPDESK_PHONE", default="0333 200 1133")
HELPDESK_EMAIL = env.str("HELPDESK_EMAIL", default="helpdesk@nhs.net")
HELPDESK_MENU = env.str(
    "HELPDESK_MENU",
    default="Choose option 1 (unable to access account), then your type of organisation, "
    "then option 1 again to be put through to an agent.",
)

# Reminders go this many days before an account's disable date.
REMINDER_DAYS = [int(d) for d in env.list("REMINDER_DAYS", default=["30", "14", "7", "1"])]
CHECK_IN_LINK_DAYS = 14
# A leaver's removal still not done this many days after it was asked for is chased.
REMOVAL_CHASE_DAYS = env.int("REMOVAL_CHASE_DAYS", default=14)
NOTIFICATION_MAX_ATTEMPTS = 5

# Imports: files larger than this are refused before they are read.
IMPORT_MAX_BYTES = env.int("IMPORT_MAX_BYTES", default=512 * 1024 * 1024)
# A workbook's text is held in memory whole while it is read: a cap well below the above.
IMPORT_MAX_SHARED_STRINGS_BYTES = env.int(
    "IMPORT_MAX_SHARED_STRINGS_BYTES", default=32 * 1024 * 1024
)
# Uploaded files from the portal are kept here while they are checked, never under static/.
UPLOAD_DIR = VAR_DIR / "uploads"
IMPORT_UPLOAD_MAX_BYTES = env.int("IMPORT_UPLOAD_MAX_BYTES", default=100 * 1024 * 1024)
# Uploads larger than this are imported by the Celery worker, with a progress page.
IMPORT_BACKGROUND_BYTES = env.int("IMPORT_BACKGROUND_BYTES", default=5 * 1024 * 1024)
UPLOAD_DIR.mkdir(exist_ok=True)
# A check run or a portal import still "running" (or queued) after this many minutes has lost
# its process (accounts/sweeps.py): longer than the tasks' time limits (1 hour, 2 hours).
STALE_CHECK_RUN_MINUTES = env.int("STALE_CHECK_RUN_MINUTES", default=90)
# An import that creates or changes at least this many rows (accounts, mailboxes, homes and
# links together) analyses the tables it wrote, so the next statements plan with fresh counts.
IMPORT_ANALYZE_ROWS = env.int("IMPORT_ANALYZE_ROWS", default=10_000)
STALE_IMPORT_MINUTES = env.int("STALE_IMPORT_MINUTES", default=180)
# Request bodies: every form but the upload is small (the largest, a user with thousands of
# homes in the admin, is under 100 KB), so form data over 1 MB is refused (400), and a body
# over 1 MB is refused by its Content-Length before it is read (413), except on the upload
# page (IMPORT_UPLOAD_MAX_BYTES). An uploaded file over 2.5 MB is spooled to disk, under
# UPLOAD_DIR with the other uploads (never /tmp), not held in memory.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_TEMP_DIR = str(UPLOAD_DIR)

REDIS_URL = env.str("REDIS_URL", default="")
# The cache holds the throttle's counts for every process: Redis when REDIS_URL is set
# (short timeouts, so that Redis down does not hold up a sign-in), else files under VAR_DIR.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "portal",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
            "OPTIONS": {"MAX_ENTRIES": 20000},
        }
    }
# An accounts file with more rows than this for one care home is refused for that home.
MAX_ACCOUNTS_PER_HOME = env.int("MAX_ACCOUNTS_PER_HOME", default=5000)

# Celery: Redis when REDIS_URL is set, otherwise a filesystem broker that needs no server.
CELERY_TIMEZONE = TIME_ZONE
CELERY_ENABLE_UTC = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 60 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 55 * 60
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Queueing from a page makes one attempt (accounts.tasks.publish), each connection attempt
# bounded by this, so a page answers "not queued" within a few seconds when Redis is down.
BROKER_CONNECT_TIMEOUT = env.float("BROKER_CONNECT_TIMEOUT", default=2.0)
CELERY_BROKER_CONNECTION_TIMEOUT = BROKER_CONNECT_TIMEOUT
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "socket_connect_timeout": BROKER_CONNECT_TIMEOUT,
        # Longer than the longest task (an import: 2 hours), or Redis hands a task that is
        # still running to a second worker.
        "visibility_timeout": 3 * 60 * 60,
    }
else:
    BROKER_DIR = VAR_DIR / "celery-broker"
    (BROKER_DIR / "processed").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR),
        "data_folder_out": str(BROKER_DIR),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)

# Logs go to stdout; in production (LOG_FORMAT=json, the default with DEBUG off) one JSON
# object a line, each carrying the request's id.
LOG_FORMAT = env.str("LOG_FORMAT", default="text" if DEBUG else "json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "carehome_portal.logs.RequestIdFilter"}},
    "formatters": {
        "json": {"()": "carehome_portal.logs.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# The read API (api/): personal tokens, read-only JSON and CSV, an OpenAPI schema and docs.
API_THROTTLE_RATE = env.str("API_THROTTLE_RATE", default="600/minute")
API_TOKEN_MAX_DAYS = env.int("API_TOKEN_MAX_DAYS", default=365)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.TokenRateThrottle"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "NHSmail hygiene portal API",
    "DESCRIPTION": (
        "Read-only figures of the last nightly check, for the homes your token's user may see."
        " Send `Authorization: Bearer TOKEN` (make one at /api-tokens/). Lists come in cursor"
        " pages: follow `next`. Add `format=csv` to a list for CSV."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "RiskEnum": "accounts.rules.MailboxRisk",
        "StateEnum": "accounts.rules.AccountState",
    },
}

"""One settings module, read from the environment.

Embedded defaults run with nothing but Python: a SQLite file and Celery's filesystem broker.
`DATABASE_URL` switches to PostgreSQL, `CELERY_BROKER_URL` to Redis.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from core.reference import reference_path

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("STUDIO_VAR_DIR", BASE_DIR / "var"))
REFERENCE_FILE = reference_path()  # $STUDIO_REFERENCE_FILE or core/data/pllum_align.json


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from exc


def env_list(name: str, default: str) -> list[str]:
    return [part.strip() for part in os.environ.get(name, default).split(",") if part.strip()]


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        # A key published in the repository would let anyone forge sessions and password-reset links.
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set the SECRET_KEY environment variable to a long random string, e.g. "
            "SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))'); scripts/run.sh keeps "
            "one in $STUDIO_VAR_DIR/secret_key, docker compose reads it from .env. Only DEBUG=true (local "
            "development) runs without one."
        )
    SECRET_KEY = "dev-insecure-preference-studio-key-debug-only"  # noqa: S105 - DEBUG=true only
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "http://127.0.0.1:8000,http://localhost:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "template_partials",
    "django_htmx",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "allauth",
    "allauth.account",
    "axes",
    "csp",
    # Our apps, bottom to top (each imports only apps listed before it; see docs/architecture.md).
    "core",
    "prompts",
    "generation",
    "annotation",
    "dialogs",
    "qa",
    "exports",
    "training",
    "home",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a login refused by the throttle into the lockout page
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "django.template.context_processors.i18n",
                "core.context.roles",
            ],
        },
    },
]

VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'studio.sqlite3'}"),
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions take the write lock at BEGIN: claims on SQLite are serialised the way
    # PostgreSQL serialises them with row locks, and busy writers wait instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out login before any password check
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

# Language: Polish first, English available.
LANGUAGE_CODE = os.environ.get("LANGUAGE_CODE", "pl")
LANGUAGES = [("pl", _("Polish")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "Europe/Warsaw")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_ROOT = VAR_DIR / "media"
EXPORT_ROOT = Path(os.environ.get("EXPORT_ROOT", VAR_DIR / "exports"))

LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home:home"
LOGOUT_REDIRECT_URL = "account_login"

# allauth: e-mail or username login, invitation-only sign-up (see core.accounts).
ACCOUNT_ADAPTER = "core.accounts.InvitationOnlyAdapter"
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
# The per-account lock is django-axes' (below). allauth keeps only generous per-IP flood guards, so that one
# person's typos never lock out an office behind one NAT address.
ACCOUNT_RATE_LIMITS = {"login": "120/m/ip", "login_failed": "100/10m/ip"}
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_SESSION_REMEMBER = True

# Login throttle (django-axes) for every login form: allauth's and the Django admin's both authenticate through
# AxesStandaloneBackend. Keyed by account AND client IP: failures for one account never lock another account out
# from the same IP, nor the same account elsewhere. Attempts are rows in the database, shared by every web
# process with or without Redis; admins see them under Admin > Axes > Access attempts and unlock by deleting
# them, or run `manage.py axes_reset_username NAME` (README, Security).
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_FAILURE_LIMIT = env_int("STUDIO_LOGIN_FAILURE_LIMIT", 5)
# 0 = locked until an admin unlocks.
AXES_COOLOFF_TIME = timedelta(minutes=env_int("STUDIO_LOGIN_COOLOFF_MINUTES", 15)) or None
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_CALLABLE = "core.security.login_username"  # username or e-mail of one account: one key
AXES_CLIENT_IP_CALLABLE = "core.security.client_ip"  # honours STUDIO_TRUSTED_PROXY_COUNT
AXES_LOCKOUT_TEMPLATE = "core/locked_out.html"
AXES_VERBOSE = False  # no start-up banner on every command; failures and lockouts are still logged
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "studio@localhost")

# One cache shared by every process: gunicorn's workers and the Celery worker. A per-process (locmem) cache
# gave each worker its own QA dashboard computation, so successive polls flipped between two "computed at"
# times, a background refresh never reached the web, and login rate limits counted per worker.
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": os.environ["REDIS_URL"]}
        if os.environ.get("REDIS_URL")
        else {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(VAR_DIR / "cache")}
    )
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.authentication.StudioTokenAuthentication",  # DRF's token auth, roles in the same query
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "core.api.StudioAutoSchema",  # documents the shared error responses
    "DEFAULT_PAGINATION_CLASS": "core.pagination.StudioPagination",  # limit/offset, bounded
    "PAGE_SIZE": 100,
    # A StudioError a service raises becomes {"detail": message} with its status (core/errors.py).
    "EXCEPTION_HANDLER": "core.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Preference Studio API",
    "DESCRIPTION": "Prompts, generations, annotation, QA and exports for preference datasets.",
    "VERSION": "1.0.0",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # Each caller's schema and docs list only the operations their role may call (annotators never see the
    # admin API): drf-spectacular checks every view's permissions against the requesting user.
    "SERVE_PUBLIC": False,
    # A collection URL served by one APIView per operation (core.api.operations) is documented per view.
    "PREPROCESSING_HOOKS": ["core.api.schema_operations"],
    # Enums named by what they are: seats A/B/C appear in several inputs (seat, custom_from) and are one enum,
    # and each model's status gets its own name instead of a hash when several outputs have a "status" field.
    "ENUM_NAME_OVERRIDES": {
        "SeatEnum": "dialogs.services.SEAT_LABELS",
        "DialogStatusEnum": "dialogs.models.Dialog.Status",
        "DialogCandidateStatusEnum": "dialogs.models.DialogCandidate.Status",
        "CampaignStatusEnum": "generation.models.Campaign.Status",
        "GenerationStatusEnum": "generation.models.Generation.Status",
        "ExportStatusEnum": "exports.models.Export.Status",
    },
    # <id:…> in URLs (core.converters): a primary key, 1 to 2**63 - 1.
    "PATH_CONVERTER_OVERRIDES": {"id": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}},
}

# Celery: filesystem broker by default (no server), Redis when CELERY_BROKER_URL is set.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "celery")
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 3000)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 3600)
# The longest any task may run: the default limit, or a task's own (exports.tasks.TIME_LIMIT, 2 h 5 min, is the
# longest; tests/generation/test_circuit.py checks every registered task against the visibility timeout).
CELERY_LONGEST_TASK_SECONDS = max(CELERY_TASK_TIME_LIMIT, 2 * 3600 + 300)
if CELERY_BROKER_URL == "filesystem://":
    _queue_dir = VAR_DIR / "celery-queue"
    (_queue_dir / "processed").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_queue_dir / "processed"),
        "store_processed": False,
        # kombu's default is ./control (the exchange tables): everything the platform writes lives under var/.
        "control_folder": str(_queue_dir / "control"),
    }
else:
    # acks_late: Redis hands an unacknowledged message to another worker after the visibility timeout, even if
    # the first worker is still running it. So the timeout must outlast the longest task (its hard time limit),
    # else a long export would run twice. The price: a task whose worker was SIGKILLed waits that long to be
    # redelivered; campaign runners do not rely on it (beat's resume_stalled_campaigns revives them within a
    # minute, STUDIO_RUNNER_STALE_SECONDS), and their rows' short leases free them for the new runner.
    _visibility_timeout = env_int("CELERY_VISIBILITY_TIMEOUT", CELERY_LONGEST_TASK_SECONDS + 60)
    if _visibility_timeout <= CELERY_LONGEST_TASK_SECONDS:
        raise ImproperlyConfigured(
            f"CELERY_VISIBILITY_TIMEOUT ({_visibility_timeout}) must exceed the longest task's time limit "
            f"({CELERY_LONGEST_TASK_SECONDS} s), or Redis redelivers tasks that are still running"
        )
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": _visibility_timeout}
CELERY_TASK_ALWAYS_EAGER = False  # never run jobs inline behind the user's back
CELERY_BEAT_SCHEDULE = {
    "expire-claims": {"task": "annotation.tasks.expire_claims", "schedule": 60.0},
    "resume-campaigns": {"task": "generation.tasks.resume_stalled_campaigns",
                         "schedule": float(env_int("STUDIO_RUNNER_RESUME_EVERY_SECONDS", 20))},
}

# Annotation settings that admins tune per deployment.
STUDIO_CLAIM_LEASE_SECONDS = env_int("STUDIO_CLAIM_LEASE_SECONDS", 30 * 60)
STUDIO_GOLD_EVERY = env_int("STUDIO_GOLD_EVERY", 10)
STUDIO_NO_OWN_PROMPTS = env_bool("STUDIO_NO_OWN_PROMPTS", True)
STUDIO_LOCAL_MODEL_URL = os.environ.get("STUDIO_LOCAL_MODEL_URL", "http://127.0.0.1:8100/v1")
# File imports (prompts, responses; core/imports.py): the largest file, prompt text (like the annotation text
# fields) and imported model response accepted.
STUDIO_IMPORT_MAX_FILE_BYTES = env_int("STUDIO_IMPORT_MAX_FILE_BYTES", 200 * 1024 * 1024)
STUDIO_IMPORT_MAX_TEXT_CHARS = env_int("STUDIO_IMPORT_MAX_TEXT_CHARS", 20_000)
STUDIO_IMPORT_MAX_RESPONSE_CHARS = env_int("STUDIO_IMPORT_MAX_RESPONSE_CHARS", 100_000)
# Task assembly: a prompt of at least this many characters, or this many sentences / list items, is
# rated (long, complex); shorter ones are ranked. Defaults of RoutingRule and of every assemble form.
STUDIO_RATING_MIN_CHARS = env_int("STUDIO_RATING_MIN_CHARS", 600)
STUDIO_RATING_MIN_PARTS = env_int("STUDIO_RATING_MIN_PARTS", 6)

# Generation campaigns. An answer that is an error (HTTP 429/5xx, or 4xx, or unusable output) spends one of the
# row's attempts (transient ones are retried with backoff until this many); a server that does not answer at all
# spends none: it opens the endpoint's circuit and the campaign waits for it (generation/services/circuit.py).
STUDIO_GENERATION_MAX_ATTEMPTS = env_int("STUDIO_GENERATION_MAX_ATTEMPTS", 8)
# A runner renews the leases of its requests in flight every third of this; a lease not renewed for this long
# belongs to a dead worker: its row is claimable again and stops counting against the endpoint's max_concurrency.
STUDIO_GENERATION_LEASE_SECONDS = env_int("STUDIO_GENERATION_LEASE_SECONDS", 30)
# This many requests in a row without an answer (refused, reset, timed out) open an endpoint's circuit; it is
# then probed (GET /v1/models) after PROBE_MIN seconds, doubling up to PROBE_MAX.
STUDIO_CIRCUIT_FAILURE_THRESHOLD = env_int("STUDIO_CIRCUIT_FAILURE_THRESHOLD", 3)
STUDIO_CIRCUIT_PROBE_MIN_SECONDS = env_int("STUDIO_CIRCUIT_PROBE_MIN_SECONDS", 5)
STUDIO_CIRCUIT_PROBE_MAX_SECONDS = env_int("STUDIO_CIRCUIT_PROBE_MAX_SECONDS", 60)
# A runner hands over to a fresh task after this long, well inside CELERY_TASK_SOFT_TIME_LIMIT.
STUDIO_RUNNER_SLICE_SECONDS = env_int("STUDIO_RUNNER_SLICE_SECONDS", 1200)
# Beat (every STUDIO_RUNNER_RESUME_EVERY_SECONDS, above) re-enqueues a running campaign's runner that has not
# heartbeaten (every few seconds while alive) for this long: a dead worker's campaign resumes within a minute.
STUDIO_RUNNER_STALE_SECONDS = env_int("STUDIO_RUNNER_STALE_SECONDS", 30)

# HTTPS. The defaults serve plain HTTP on 127.0.0.1 (scripts/run.sh, tests, benches); a deployment behind TLS
# sets the production values of .env.example, with which `manage.py check --deploy` reports no issues.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
# Behind a TLS-terminating reverse proxy: the header and value it sets on HTTPS requests
# ("HTTP_X_FORWARDED_PROTO,https"), whether its X-Forwarded-Host is trusted, and how many proxies append to
# X-Forwarded-For (the client address the login throttles count; 0 = the socket's peer address).
_proxy_ssl_header = tuple(env_list("SECURE_PROXY_SSL_HEADER", ""))
if _proxy_ssl_header and len(_proxy_ssl_header) != 2:
    raise ImproperlyConfigured("SECURE_PROXY_SSL_HEADER must be HEADER,VALUE, e.g. HTTP_X_FORWARDED_PROTO,https")
SECURE_PROXY_SSL_HEADER = _proxy_ssl_header or None
USE_X_FORWARDED_HOST = env_bool("USE_X_FORWARDED_HOST", False)
STUDIO_TRUSTED_PROXY_COUNT = env_int("STUDIO_TRUSTED_PROXY_COUNT", 0)
ALLAUTH_TRUSTED_PROXY_COUNT = STUDIO_TRUSTED_PROXY_COUNT

SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the <body> hx-headers, not the cookie
SECURE_REFERRER_POLICY = "same-origin"

# Content-Security-Policy (django-csp): pages load only our own static files. No inline scripts, <style>
# blocks, style attributes or event-handler attributes anywhere (htmx is told not to inject its indicator
# <style>: templates/base.html); QA charts are data: URIs. Swagger UI (/api/docs/) needs no exception either:
# config/urls.py serves its start-up script from a URL and its page CSS from static files.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}

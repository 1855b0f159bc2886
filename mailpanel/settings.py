"""mailpanel settings.

Every value that differs between installations comes from the environment
(or a ``*_FILE`` beside it, through ``environ.FileAwareEnv``); ``.env.example``
lists them. Nothing here reads the database or the network.
"""

from pathlib import Path

import environ
from django.core.management.utils import get_random_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.FileAwareEnv(
    DEBUG=(bool, False),
    ALLOWED_HOSTS=(list, ["localhost", "127.0.0.1", "[::1]"]),
)
environ.FileAwareEnv.read_env(BASE_DIR / ".env", overwrite=False)

# --- Core -----------------------------------------------------------------

DEBUG = env("DEBUG")


def _development_secret_key() -> str:
    # A key that survives restarts, so the web server and the worker agree on
    # it and logins are kept; only ever used with DEBUG on.
    path = VAR_DIR / "dev-secret-key"
    if not path.exists():
        VAR_DIR.mkdir(exist_ok=True)
        path.write_text(get_random_secret_key())
        path.chmod(0o600)
    return path.read_text().strip()


if DEBUG:
    SECRET_KEY = env("SECRET_KEY", default=None) or _development_secret_key()
else:
    # Required in production: a missing key is a start-up error, not a default.
    SECRET_KEY = env("SECRET_KEY")

ALLOWED_HOSTS = env("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "domains",
    "accounts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "mailpanel.urls"
WSGI_APPLICATION = "mailpanel.wsgi.application"

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
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------
# PostgreSQL in production (postgres://user:pass@host:5432/name); an SQLite
# file for the quick start. Postfix and Dovecot read the same database.

DATABASES = {
    "default": env.db(
        "DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'mailpanel.sqlite3'}"
    )
}
DATABASES["default"]["ATOMIC_REQUESTS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Passwords ----------------------------------------------------------------
# Panel (Django) accounts use Django's own hashers; mailbox passwords use the
# Dovecot-compatible schemes in domains.passwords.

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": env.int("PASSWORD_MIN_LENGTH", default=10)},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Mail server --------------------------------------------------------------

# Scheme for new mailbox password hashes: ARGON2ID or BLF-CRYPT (docs/passwords.md).
MAILPANEL_PASSWORD_SCHEME = env("MAILPANEL_PASSWORD_SCHEME", default="ARGON2ID")
# Maildirs live at VMAIL_ROOT/DOMAIN/LOCALPART/, owned by this uid/gid.
MAILPANEL_VMAIL_ROOT = env("MAILPANEL_VMAIL_ROOT", default="/var/vmail")
MAILPANEL_VMAIL_UID = env.int("MAILPANEL_VMAIL_UID", default=5000)
MAILPANEL_VMAIL_GID = env.int("MAILPANEL_VMAIL_GID", default=5000)

# --- Celery -------------------------------------------------------------------
# The broker must be reachable in production; eager mode is never switched on
# implicitly, so a missing broker is an error rather than work done in-request.

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/0")
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1

# --- Web ----------------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env("STATIC_ROOT", default=str(VAR_DIR / "static"))

if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
SESSION_COOKIE_HTTPONLY = True

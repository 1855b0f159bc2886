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
    "axes",
    "django_celery_beat",
    "django_celery_results",
    "domains",
    "accounts",
    "mailserver",
    "monitoring",
    "backups",
    "relays",
    "dkim",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns a lockout flagged during the view into the lockout page.
    "axes.middleware.AxesMiddleware",
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
    {
        "NAME": "django.contrib.auth.password_validation."
        "UserAttributeSimilarityValidator"
    },
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
# Hash costs for new mailbox passwords. Argon2id: OWASP (2023) m=19 MiB, t=2,
# about 18 ms per login in Dovecot's auth worker, which has no cache by default
# and verifies on every IMAP/SMTP login; p is always 1 (what Dovecot writes).
MAILPANEL_ARGON2_TIME_COST = env.int("MAILPANEL_ARGON2_TIME_COST", default=2)
MAILPANEL_ARGON2_MEMORY_COST = env.int("MAILPANEL_ARGON2_MEMORY_COST", default=19456)
MAILPANEL_BCRYPT_ROUNDS = env.int("MAILPANEL_BCRYPT_ROUNDS", default=12)
# Maildirs live at VMAIL_ROOT/DOMAIN/LOCALPART/, owned by this uid/gid.
MAILPANEL_VMAIL_ROOT = env("MAILPANEL_VMAIL_ROOT", default="/var/vmail")
MAILPANEL_VMAIL_UID = env.int("MAILPANEL_VMAIL_UID", default=5000)
MAILPANEL_VMAIL_GID = env.int("MAILPANEL_VMAIL_GID", default=5000)
# The most addresses one address may deliver to, through its forward or alias
# and every alias and forward behind them (a copy kept in the mailbox counts).
# The models refuse more, and Postfix's virtual_alias_expansion_limit is
# rendered from it, so Postfix never defers a message the panel allowed.
MAILPANEL_ALIAS_EXPANSION_LIMIT = env.int("MAILPANEL_ALIAS_EXPANSION_LIMIT", default=50)

# --- Celery -------------------------------------------------------------------
# The broker must be reachable in production; eager mode is never switched on
# implicitly, so a missing broker is an error rather than work done in-request.

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/0")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # The quick start without Redis: kombu's filesystem transport keeps the
    # queues as files under var/ (one machine, one worker; never production).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(VAR_DIR / "broker"),
        "data_folder_out": str(VAR_DIR / "broker"),
        "processed_folder": str(VAR_DIR / "broker-done"),
        "store_processed": False,
    }
    (VAR_DIR / "broker").mkdir(parents=True, exist_ok=True)
else:
    # Workers and beat. A web request's publish does not use these: the
    # outbox opens its own connection that tries once, within a second, and
    # leaves the work in the outbox when Redis is down (mailserver.outbox).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "socket_connect_timeout": 2,
    }
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_ACKS_LATE = True
# A task whose worker dies mid-way is redelivered; every task is idempotent.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
# Results and failures in the admin (django-celery-results), kept a week.
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_RESULT_EXPIRES = 7 * 86400
# Schedules live in the database and are edited in the admin; the entries
# below are only created when missing, so an admin's edit survives restarts
# (mailserver.beat).
CELERY_BEAT_SCHEDULER = "mailserver.beat:DatabaseScheduler"


# Each entry expires after its interval: a run that waited that long is
# superseded by the next one, so a backlog never piles up.
def _every(seconds: int, task: str) -> dict:
    """A beat entry that expires after its own interval (see above)."""
    return {"task": task, "schedule": float(seconds), "options": {"expires": seconds}}


CELERY_BEAT_SCHEDULE = {
    "mail hosts: send pending work (outbox)": _every(
        60, "mailserver.tasks.outbox_flush_task"
    ),
    "mail hosts: apply configuration where behind": _every(
        300, "mailserver.tasks.mailhosts_reconcile_task"
    ),
    "mailboxes: quota usage": _every(900, "mailserver.tasks.quota_refresh_task"),
    "monitoring: DNSBL checks": _every(3600, "monitoring.tasks.dnsbl_schedule_task"),
    "monitoring: deliverability checks": _every(
        86400, "monitoring.tasks.deliverability_check_task"
    ),
    "backups: backup when due": _every(3600, "backups.tasks.backup_run_task"),
    "backups: prune when due": _every(3600, "backups.tasks.backup_prune_task"),
    "backups: check when due": _every(3600, "backups.tasks.backup_check_task"),
    "backups: restore drill when due": _every(3600, "backups.tasks.restore_drill_task"),
    "dkim: activate published keys, retire old ones": _every(
        3600, "dkim.tasks.dkim_keys_maintain_task"
    ),
    "backups: end runs whose worker is gone": _every(
        300, "backups.tasks.backup_recover_task"
    ),
    "relays: end tests whose worker is gone": _every(
        300, "relays.tasks.relay_tests_recover_task"
    ),
}
# This worker's mail host: set on each mail host (docs/workers.md). The
# worker then registers the host, consumes the queue of that name and does
# the host's file-system and daemon work. Empty: not a mail host.
MAILPANEL_MAIL_HOST = env("MAILPANEL_MAIL_HOST", default="")
# How often a mail host's worker reports that it is alive, in seconds.
MAILPANEL_MAIL_HOST_HEARTBEAT = env.int("MAILPANEL_MAIL_HOST_HEARTBEAT", default=60)
# A deleted mailbox's maildir is moved under this directory, or removed when
# MAILPANEL_MAILDIR_ON_DELETE is "remove". Empty: VMAIL_ROOT/.archive.
MAILPANEL_MAILDIR_ARCHIVE = env("MAILPANEL_MAILDIR_ARCHIVE", default="")
MAILPANEL_MAILDIR_ON_DELETE = env("MAILPANEL_MAILDIR_ON_DELETE", default="archive")
# Seconds a move waits before looking for mail delivered into the old
# directory by a delivery that was already under way.
MAILPANEL_MAILDIR_SETTLE_SECONDS = env.float(
    "MAILPANEL_MAILDIR_SETTLE_SECONDS", default=2.0
)
# Where domains' models send mailbox renames, deletes and password changes
# (a module path; domains never imports mailserver itself).
MAILPANEL_MAILBOX_HOOKS = env("MAILPANEL_MAILBOX_HOOKS", default="mailserver.lifecycle")
# An owner whose mailbox is this full (percent) gets one warning mail.
MAILPANEL_QUOTA_WARNING_PERCENT = env.int("MAILPANEL_QUOTA_WARNING_PERCENT", default=90)

# --- Web ----------------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env("STATIC_ROOT", default=str(VAR_DIR / "static"))

# The panel's address as people reach it, scheme and host only
# ("https://mail.example.org"). Links sent by mail (password resets) are built
# from it, never from the request's Host header, which the client chooses.
# `make run` sets http://HOST:PORT. Empty outside DEBUG: no reset mail is sent.
MAILPANEL_BASE_URL = env(
    "MAILPANEL_BASE_URL", default="http://127.0.0.1:8000" if DEBUG else ""
)

if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
SESSION_COOKIE_HTTPONLY = True

# --- Mail server configuration -------------------------------------------------
# What `manage.py mailserver render|apply` writes for Postfix and Dovecot
# (docs/mailserver.md). Ports/addresses are Postfix master.cf service names
# ([host:]port) and Dovecot inet_listener ports; tests move them to high
# loopback ports.

MAILPANEL_POSTFIX_DIR = env("MAILPANEL_POSTFIX_DIR", default="/etc/postfix")
MAILPANEL_DOVECOT_DIR = env("MAILPANEL_DOVECOT_DIR", default="/etc/dovecot")
MAILPANEL_POSTFIX_QUEUE_DIR = env(
    "MAILPANEL_POSTFIX_QUEUE_DIR", default="/var/spool/postfix"
)
MAILPANEL_POSTFIX_DATA_DIR = env(
    "MAILPANEL_POSTFIX_DATA_DIR", default="/var/lib/postfix"
)
# Empty: the machine's FQDN (with ".localdomain" added if it has no dot).
MAILPANEL_HOSTNAME = env("MAILPANEL_HOSTNAME", default="")
# Empty: var/tls/mailserver.{crt,key}, a self-signed pair made on first render.
# Any other path must exist (a production certificate is never invented).
MAILPANEL_TLS_CERT = env("MAILPANEL_TLS_CERT", default="")
MAILPANEL_TLS_KEY = env("MAILPANEL_TLS_KEY", default="")
MAILPANEL_MESSAGE_SIZE_LIMIT = env.int("MAILPANEL_MESSAGE_SIZE_LIMIT", default=52428800)
# Clients that may relay without logging in. Empty on purpose: local programs
# use sendmail(1), webmail and scripts log in on submission like everyone else.
MAILPANEL_MYNETWORKS = env("MAILPANEL_MYNETWORKS", default="")
# "127.0.0.1:PORT": a loopback smtpd for Dovecot's Sieve replies (vacation);
# empty: Dovecot uses sendmail(1), i.e. the Postfix of /etc/postfix.
MAILPANEL_LOCAL_SMTP_LISTEN = env("MAILPANEL_LOCAL_SMTP_LISTEN", default="")
MAILPANEL_POSTFIX_INET_INTERFACES = env(
    "MAILPANEL_POSTFIX_INET_INTERFACES", default="all"
)
MAILPANEL_POSTFIX_INET_PROTOCOLS = env(
    "MAILPANEL_POSTFIX_INET_PROTOCOLS", default="all"
)
MAILPANEL_SMTP_LISTEN = env("MAILPANEL_SMTP_LISTEN", default="25")
MAILPANEL_SUBMISSION_LISTEN = env("MAILPANEL_SUBMISSION_LISTEN", default="587")
MAILPANEL_SUBMISSIONS_LISTEN = env("MAILPANEL_SUBMISSIONS_LISTEN", default="465")
# Static routes (domain=transport), e.g. "example.net=smtp:[10.0.0.5]:25".
MAILPANEL_POSTFIX_TRANSPORTS = env.dict("MAILPANEL_POSTFIX_TRANSPORTS", default={})
# Empty: syslog. A path: Postfix's own postlogd writes there (no syslog needed).
MAILPANEL_POSTFIX_LOG_FILE = env("MAILPANEL_POSTFIX_LOG_FILE", default="")
# Database connections of the mail server: at most proxymap processes x 8
# lookup files plus 2 x trivial-rewrite processes for Postfix (10 with the
# defaults, 6 for inbound mail), plus Dovecot's SQL pool (at most 14 in all
# with the defaults; docs/mailserver.md).
MAILPANEL_POSTFIX_PROXYMAP_PROCESSES = env.int(
    "MAILPANEL_POSTFIX_PROXYMAP_PROCESSES", default=1
)
MAILPANEL_POSTFIX_REWRITE_PROCESSES = env.int(
    "MAILPANEL_POSTFIX_REWRITE_PROCESSES", default=1
)
MAILPANEL_DOVECOT_DB_CONNECTIONS = env.int(
    "MAILPANEL_DOVECOT_DB_CONNECTIONS", default=4
)
MAILPANEL_DOVECOT_LISTEN = env("MAILPANEL_DOVECOT_LISTEN", default="*, ::")
MAILPANEL_IMAP_PORT = env.int("MAILPANEL_IMAP_PORT", default=143)
MAILPANEL_IMAPS_PORT = env.int("MAILPANEL_IMAPS_PORT", default=993)
MAILPANEL_POP3_PORT = env.int("MAILPANEL_POP3_PORT", default=110)
MAILPANEL_POP3S_PORT = env.int("MAILPANEL_POP3S_PORT", default=995)
# Empty: Dovecot's default (/run/dovecot); a second instance needs its own.
MAILPANEL_DOVECOT_BASE_DIR = env("MAILPANEL_DOVECOT_BASE_DIR", default="")
MAILPANEL_DOVECOT_LOG_PATH = env("MAILPANEL_DOVECOT_LOG_PATH", default="syslog")
# Tests only: let IMAP/POP3 clients on 127.0.0.1/::1 log in without TLS.
MAILPANEL_ALLOW_PLAINTEXT_AUTH_ON_LOOPBACK = env.bool(
    "MAILPANEL_ALLOW_PLAINTEXT_AUTH_ON_LOOPBACK", default=False
)
# DKIM signing with rspamd as Postfix's milter (docs/dkim.md, docs/mailserver.md):
# its own configuration directory (never Debian's /etc/rspamd), its pid file and
# caches, its log file (empty: syslog) and the milter's socket: unix:PATH (relative
# to Postfix's queue directory) or a loopback inet:127.0.0.1:PORT. An empty
# milter address turns signing off: no rspamd, Postfix calls no milter.
MAILPANEL_RSPAMD_DIR = env("MAILPANEL_RSPAMD_DIR", default="/etc/mailpanel/rspamd")
MAILPANEL_RSPAMD_STATE_DIR = env(
    "MAILPANEL_RSPAMD_STATE_DIR", default="/var/lib/mailpanel/rspamd"
)
MAILPANEL_RSPAMD_LOG_FILE = env("MAILPANEL_RSPAMD_LOG_FILE", default="")
MAILPANEL_RSPAMD_MILTER_LISTEN = env(
    "MAILPANEL_RSPAMD_MILTER_LISTEN", default="unix:private/rspamd-milter"
)
# How Postfix and Dovecot reach the database; empty: as Django does. Give them
# a read-only role in production (docs/mailserver.md).
MAILPANEL_MAIL_DB_HOST = env("MAILPANEL_MAIL_DB_HOST", default="")
MAILPANEL_MAIL_DB_PORT = env("MAILPANEL_MAIL_DB_PORT", default="")
MAILPANEL_MAIL_DB_USER = env("MAILPANEL_MAIL_DB_USER", default="")
MAILPANEL_MAIL_DB_PASSWORD = env("MAILPANEL_MAIL_DB_PASSWORD", default="")

# --- Monitoring -----------------------------------------------------------------
# DNSBL and deliverability checks (docs/monitoring.md).

# The resolver every check asks, "IP" or "IP:PORT": a recursive resolver of
# your own (unbound on 127.0.0.1). Empty: /etc/resolv.conf, and a public
# resolver found there is reported, since DNSBLs refuse public resolvers.
MAILPANEL_DNS_RESOLVER = env("MAILPANEL_DNS_RESOLVER", default="")
MAILPANEL_DNS_TIMEOUT = env.float("MAILPANEL_DNS_TIMEOUT", default=3.0)
# DNSBL queries in flight at once.
MAILPANEL_DNSBL_CONCURRENCY = env.int("MAILPANEL_DNSBL_CONCURRENCY", default=20)
# The hourly DNSBL run starts up to this many seconds late, so installations do
# not all query the lists at the top of the hour.
MAILPANEL_DNSBL_JITTER = env.int("MAILPANEL_DNSBL_JITTER", default=600)
# Addresses mail leaves from. Empty: the HELO name's A/AAAA records.
MAILPANEL_OUTBOUND_IPV4 = env("MAILPANEL_OUTBOUND_IPV4", default="")
MAILPANEL_OUTBOUND_IPV6 = env("MAILPANEL_OUTBOUND_IPV6", default="")
# Name the server gives in HELO/EHLO. Empty: MAILPANEL_HOSTNAME, then the FQDN.
MAILPANEL_HELO_NAME = env("MAILPANEL_HELO_NAME", default="")
# Outbound SMTP test: HOST:PORT targets that answer with a 220 banner; when all
# port 25 targets fail and a submission target works, port 25 is blocked.
MAILPANEL_PORT25_TARGETS = env.list(
    "MAILPANEL_PORT25_TARGETS", default=["gmail-smtp-in.l.google.com:25"]
)
MAILPANEL_SUBMISSION_TARGETS = env.list(
    "MAILPANEL_SUBMISSION_TARGETS", default=["smtp.gmail.com:587"]
)
MAILPANEL_SMTP_TEST_TIMEOUT = env.float("MAILPANEL_SMTP_TEST_TIMEOUT", default=10.0)
# A directory of DKIM key files on the mail hosts, backed up with the
# configuration when set. The keys themselves live in the database (dkim).
MAILPANEL_DKIM_KEY_DIR = env("MAILPANEL_DKIM_KEY_DIR", default="")
# Check runs older than this are deleted by the daily task.
MAILPANEL_MONITORING_HISTORY_DAYS = env.int(
    "MAILPANEL_MONITORING_HISTORY_DAYS", default=90
)

# --- DKIM keys ------------------------------------------------------------------
# Generated or imported in the admin (or manage.py dkim), encrypted with
# MAILPANEL_SECRET_ENCRYPTION_KEY; docs/dkim.md.

# Days a replaced key stays published after its successor is activated, so
# that mail signed before the switch still verifies.
MAILPANEL_DKIM_OVERLAP_DAYS = env.int("MAILPANEL_DKIM_OVERLAP_DAYS", default=7)
# Beat rotates keys that have been active this many days (365: yearly). The
# new keys wait for their records in DNS. 0: never on its own.
MAILPANEL_DKIM_ROTATE_DAYS = env.int("MAILPANEL_DKIM_ROTATE_DAYS", default=0)

# --- Mailbox owners' portal ----------------------------------------------------
# /account/: owners log in with their mail address and mailbox password
# (docs/portal.md). They are never Django users; the session keeps their
# mailbox id, so a mailbox password can never open the admin.

# Admin logins go through Django's authenticate(), which the Axes backend stops
# while a client is locked out; owner logins report to Axes directly
# (accounts.lockout). The two count apart, each per name and client IP, and
# per client IP alone with a higher limit (docs/admin.md, docs/portal.md).
AUTHENTICATION_BACKENDS = [
    "accounts.backends.AxesAdminBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "accounts.lockout.LoginLockoutHandler"
# Names are counted with their realm ("admin:root", "portal:alice@example.org").
AXES_USERNAME_CALLABLE = "accounts.lockout.counted_username"
# Failures of one name from one client IP before that pair is locked.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
# Failures from one client IP, whatever the names, before it is locked; higher,
# since people behind one NAT share it.
MAILPANEL_LOGIN_IP_FAILURE_LIMIT = env.int(
    "MAILPANEL_LOGIN_IP_FAILURE_LIMIT", default=20
)
# Hours (a float): failures older than this are forgotten and a lockout ends.
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.25)
# By name and IP together, so that a stranger cannot lock out a known name (the
# superuser's, a mailbox's) from elsewhere; by IP alone, so that one address
# trying many names is stopped too. A botnet guessing one name from many
# addresses is not stopped here: mailbox passwords must resist that anyway,
# since IMAP and SMTP accept guesses too (Dovecot's auth penalty slows them).
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
# A correct password must not wipe an IP's failures: an attacker with one
# mailbox could otherwise keep guessing others between their own logins.
AXES_RESET_ON_SUCCESS = False
AXES_USERNAME_FORM_FIELD = "username"
# The page shown while locked out, for the portal and the admin login alike.
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_page"
# Behind a reverse proxy every client has the proxy's REMOTE_ADDR, and one
# lockout would shut everyone out: name a function(request) -> str that reads
# the address the proxy appended to X-Forwarded-For. The audit log uses it too.
AXES_CLIENT_IP_CALLABLE = env("AXES_CLIENT_IP_CALLABLE", default=None)

# An owner's session ends after this many seconds, however active.
MAILPANEL_PORTAL_SESSION_AGE = env.int("MAILPANEL_PORTAL_SESSION_AGE", default=8 * 3600)
# A password reset link is valid for this many seconds, and only once.
MAILPANEL_PORTAL_RESET_TIMEOUT = env.int("MAILPANEL_PORTAL_RESET_TIMEOUT", default=3600)
# Sender of the reset mail; empty: DEFAULT_FROM_EMAIL.
MAILPANEL_PORTAL_FROM_EMAIL = env("MAILPANEL_PORTAL_FROM_EMAIL", default="")

# --- Backups --------------------------------------------------------------------
# Scheduled, verified backups with restic (docs/backups.md). The schedule and
# retention are edited in the admin (BackupPolicy).

# A restic repository: a local path, sftp:host:/path, rest:https://..., s3:...
# Credentials for a remote (AWS_*, B2_*, ...) are read by restic from the
# environment. Create it once with `manage.py backup --init`.
MAILPANEL_BACKUP_REPOSITORY = env("MAILPANEL_BACKUP_REPOSITORY", default="")
# Encrypts the repository; without it no backup can ever be read. Keep a copy
# away from this machine. MAILPANEL_BACKUP_PASSPHRASE_FILE works too.
MAILPANEL_BACKUP_PASSPHRASE = env("MAILPANEL_BACKUP_PASSPHRASE", default="")
MAILPANEL_BACKUP_RESTIC = env("MAILPANEL_BACKUP_RESTIC", default="restic")
# Configuration and keys to back up, those that exist. Empty: the Postfix and
# Dovecot directories, the TLS certificate and key (or var/tls) and the DKIM
# key directory.
MAILPANEL_BACKUP_CONFIG_PATHS = env.list("MAILPANEL_BACKUP_CONFIG_PATHS", default=[])
# Where a run stages the dump and hard links of the maildirs: on the vmail file
# system. Empty: MAILPANEL_VMAIL_ROOT/.mailpanel-backup.
MAILPANEL_BACKUP_STAGING_DIR = env("MAILPANEL_BACKUP_STAGING_DIR", default="")
# Where restores and drills extract to; a drill needs room for a whole backup.
# Empty: the system's temporary directory.
MAILPANEL_BACKUP_SCRATCH_DIR = env("MAILPANEL_BACKUP_SCRATCH_DIR", default="")
MAILPANEL_BACKUP_CACHE_DIR = env("MAILPANEL_BACKUP_CACHE_DIR", default="")
# The host name recorded in snapshots. Empty: this machine's.
MAILPANEL_BACKUP_HOST = env("MAILPANEL_BACKUP_HOST", default="")
# Any one restic call is stopped after this many seconds (0: never), so a
# remote that hangs cannot keep a run going for ever.
MAILPANEL_BACKUP_TIMEOUT = env.int("MAILPANEL_BACKUP_TIMEOUT", default=6 * 3600)
# The drill loads the dump into this scratch database (dropped afterwards).
# Empty: the database's name + "_restore_drill"; the role needs CREATEDB.
MAILPANEL_BACKUP_DRILL_DATABASE = env("MAILPANEL_BACKUP_DRILL_DATABASE", default="")
# Who is mailed about failed runs and drills. Empty: ADMINS.
MAILPANEL_BACKUP_ALERT_EMAILS = env.list("MAILPANEL_BACKUP_ALERT_EMAILS", default=[])

# --- Relay hosts ------------------------------------------------------------------
# Sending through a provider's smarthost (docs/relay-hosts.md).

# Fernet keys (comma-separated; the first encrypts, all decrypt) for the relay
# passwords in the database. Keep it out of the database and its backups:
# MAILPANEL_SECRET_ENCRYPTION_KEY_FILE=/run/secrets/... works too. Generate one
# with `python -c "from cryptography.fernet import Fernet as F;
# print(F.generate_key().decode())"`. With DEBUG on and none set, one is kept
# in var/dev-relay-key.
MAILPANEL_SECRET_ENCRYPTION_KEY = env("MAILPANEL_SECRET_ENCRYPTION_KEY", default="")
if DEBUG and not MAILPANEL_SECRET_ENCRYPTION_KEY:
    _relay_key = VAR_DIR / "dev-relay-key"
    if not _relay_key.exists():
        import base64
        import secrets

        VAR_DIR.mkdir(exist_ok=True)
        _relay_key.write_text(
            base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
        )
        _relay_key.chmod(0o600)
    MAILPANEL_SECRET_ENCRYPTION_KEY = _relay_key.read_text().strip()
# The root-only table (hash:, made with postmap) that each mail host's worker
# writes the relay passwords into; outside MAILPANEL_POSTFIX_DIR, which
# `mailserver apply` swaps as a whole.
MAILPANEL_RELAY_CREDENTIALS_MAP = env(
    "MAILPANEL_RELAY_CREDENTIALS_MAP", default="/etc/mailpanel/relay-credentials"
)
# CAs that relay certificates are verified against (Postfix and "Test this relay").
MAILPANEL_RELAY_TLS_CA_FILE = env(
    "MAILPANEL_RELAY_TLS_CA_FILE", default="/etc/ssl/certs/ca-certificates.crt"
)
# Seconds "Test this relay" waits for each step.
MAILPANEL_RELAY_TEST_TIMEOUT = env.float("MAILPANEL_RELAY_TEST_TIMEOUT", default=15.0)

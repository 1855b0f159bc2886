"""Settings for the test suite: production settings with test-only defaults.

DATABASE_URL decides the backend: PostgreSQL (the default here, as in
production) or SQLite for the second run of the model tests.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-only-not-secret")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/mailpanel")

from mailpanel.settings import *  # noqa: E402, F403

# Hashing at full cost would make the suite slow without testing anything more;
# tests/domains/test_passwords.py checks the real parameters.
MAILPANEL_ARGON2_TIME_COST = 1
MAILPANEL_ARGON2_MEMORY_COST = 1024
MAILPANEL_BCRYPT_ROUNDS = 4
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Where the panel writes on a mail host (configuration, maildirs, the relay
# credentials), a directory of this run's own: a test that forgets to point
# them at its own temporary directory must not write into /etc/postfix,
# /etc/dovecot, /var/vmail or /etc/mailpanel of the machine running the suite
# (as root). Tests that need a real instance set their own (tests/conftest.py).
# Nothing creates this directory but such a forgetful test.
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

_SCRATCH = Path(tempfile.gettempdir()) / "mailpanel-tests-unset-paths"
MAILPANEL_POSTFIX_DIR = str(_SCRATCH / "postfix")
MAILPANEL_DOVECOT_DIR = str(_SCRATCH / "dovecot")
MAILPANEL_POSTFIX_QUEUE_DIR = str(_SCRATCH / "spool")
MAILPANEL_POSTFIX_DATA_DIR = str(_SCRATCH / "data")
MAILPANEL_VMAIL_ROOT = str(_SCRATCH / "vmail")
MAILPANEL_RELAY_CREDENTIALS_MAP = str(_SCRATCH / "relay-credentials")

"""Settings for the test suite: production settings with test-only defaults.

DATABASE_URL decides the backend: PostgreSQL (the default here, as in
production) or SQLite for the second run of the model tests.
"""

import os
import tempfile
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "test-only-not-secret")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/mailpanel")
os.environ.setdefault("MAILPANEL_BASE_URL", "https://panel.example.test")

# Where the panel writes on a mail host, unless the environment says otherwise
# (the test workers get theirs that way): a directory of the run's own, so a
# test that forgets its own temporary directory writes nothing into the
# machine's /etc/postfix, /etc/dovecot, /var/vmail or /etc/mailpanel as root.
# Nothing creates this directory but such a forgetful test.
_SCRATCH = Path(tempfile.gettempdir()) / "mailpanel-tests-unset-paths"
for _name, _path in {
    "MAILPANEL_POSTFIX_DIR": "postfix",
    "MAILPANEL_DOVECOT_DIR": "dovecot",
    "MAILPANEL_POSTFIX_QUEUE_DIR": "spool",
    "MAILPANEL_POSTFIX_DATA_DIR": "data",
    "MAILPANEL_VMAIL_ROOT": "vmail",
    "MAILPANEL_RELAY_CREDENTIALS_MAP": "relay-credentials",
}.items():
    os.environ.setdefault(_name, str(_SCRATCH / _path))

# Where the panel writes on a mail host, unless the environment says otherwise
# (the test workers get theirs that way): a directory of the run's own, so a
# test that forgets its own temporary directory writes nothing into the
# machine's /etc/postfix, /etc/dovecot, /var/vmail or /etc/mailpanel as root.
# Nothing creates this directory but such a forgetful test.
_SCRATCH = Path(tempfile.gettempdir()) / "mailpanel-tests-unset-paths"
for _name, _path in {
    "MAILPANEL_POSTFIX_DIR": "postfix",
    "MAILPANEL_DOVECOT_DIR": "dovecot",
    "MAILPANEL_POSTFIX_QUEUE_DIR": "spool",
    "MAILPANEL_POSTFIX_DATA_DIR": "data",
    "MAILPANEL_VMAIL_ROOT": "vmail",
    "MAILPANEL_RELAY_CREDENTIALS_MAP": "relay-credentials",
}.items():
    os.environ.setdefault(_name, str(_SCRATCH / _path))

from mailpanel.settings import *  # noqa: E402, F403

# Hashing at full cost would make the suite slow without testing anything more;
# tests/domains/test_passwords.py checks the real parameters.
MAILPANEL_ARGON2_TIME_COST = 1
MAILPANEL_ARGON2_MEMORY_COST = 1024
MAILPANEL_BCRYPT_ROUNDS = 4
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

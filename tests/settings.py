"""Settings for the test suite: production settings with test-only defaults.

DATABASE_URL decides the backend: PostgreSQL (the default here, as in
production) or SQLite for the second run of the model tests.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-only-not-secret")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/mailpanel")
os.environ.setdefault("MAILPANEL_BASE_URL", "https://panel.example.test")

from mailpanel.settings import *  # noqa: E402, F403

# Hashing at full cost would make the suite slow without testing anything more;
# tests/domains/test_passwords.py checks the real parameters.
MAILPANEL_ARGON2_TIME_COST = 1
MAILPANEL_ARGON2_MEMORY_COST = 1024
MAILPANEL_BCRYPT_ROUNDS = 4
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

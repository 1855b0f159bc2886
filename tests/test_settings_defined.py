"""Every setting the code reads is defined in mailpanel/settings.py.

A setting read only through ``getattr(settings, NAME, default)`` keeps its
real default in the code and out of .env.example, where nobody finds it
(MAILPANEL_ARGON2_* were such; MAILPANEL_RELAY_HOST was read but defined
nowhere). Django's own settings count as defined, and so do django-axes'
(``AXES_*``), which axes.conf gives their defaults.
"""

import re
from pathlib import Path

from django.conf import global_settings, settings

import mailpanel.settings as production

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = (
    "accounts",
    "backups",
    "dkim",
    "domains",
    "mailpanel",
    "mailserver",
    "monitoring",
    "relays",
)
READ = re.compile(
    r"""\bsettings\.([A-Z][A-Z0-9_]+)\b|getattr\(\s*settings,\s*["']([A-Z][A-Z0-9_]+)"""
)


def settings_read() -> dict[str, str]:
    """Each setting name read in the code, with one place that reads it."""
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for match in READ.finditer(path.read_text()):
                found.setdefault(match[1] or match[2], str(path.relative_to(ROOT)))
    return found


def test_the_pattern_finds_settings_read_both_ways():
    read = settings_read()
    assert {"MAILPANEL_VMAIL_ROOT", "MAILPANEL_PASSWORD_SCHEME", "DEBUG"} <= set(read)


def test_every_setting_read_is_defined():
    undefined = {
        name: where
        for name, where in settings_read().items()
        if not hasattr(production, name)
        and not hasattr(global_settings, name)
        and not (name.startswith("AXES_") and hasattr(settings, name))
    }
    assert undefined == {}

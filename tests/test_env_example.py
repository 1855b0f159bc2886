""".env.example lists every setting mailpanel/settings.py reads, each explained."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# env("NAME", ...), env.int("NAME", ...), env.db("NAME", ...), ...
READ = re.compile(r'\benv(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]*)"')


def settings_read() -> set[str]:
    return set(READ.findall((ROOT / "mailpanel" / "settings.py").read_text()))


def documented() -> dict[str, bool]:
    """Each ``#NAME=`` line of .env.example: whether a comment explains it.

    A comment may cover a group of settings: the lines above a setting,
    skipping other settings, must reach a ``# ...`` comment, not a blank line.
    """
    lines = (ROOT / ".env.example").read_text().splitlines()
    setting = re.compile(r"^#([A-Z][A-Z0-9_]*)=")
    found: dict[str, bool] = {}
    for index, line in enumerate(lines):
        match = setting.match(line)
        if not match:
            continue
        above = index - 1
        while above >= 0 and setting.match(lines[above]):
            above -= 1
        found[match[1]] = above >= 0 and lines[above].startswith("# ")
    return found


def test_the_pattern_finds_the_settings_read():
    names = settings_read()
    assert {"SECRET_KEY", "DATABASE_URL", "MAILPANEL_MAIL_HOST"} <= names
    assert len(names) > 80


def test_every_setting_read_is_in_env_example():
    missing = sorted(settings_read() - set(documented()))
    assert missing == []


def test_every_setting_in_env_example_is_explained_and_read():
    found = documented()
    assert sorted(name for name, explained in found.items() if not explained) == []
    assert sorted(set(found) - settings_read()) == []

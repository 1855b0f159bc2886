"""One byte formatter for the admin, the portal and the commands (IEC units)."""

import re
from pathlib import Path

import pytest
from django.template import Context, Template

from domains.sizes import format_bytes

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (1024**2 - 1, "1.0 MiB"),  # never "1024.0 KiB"
        (50 * 1024**2, "50.0 MiB"),
        (3 * 1024**3 // 2, "1.5 GiB"),
        (2 * 1024**3, "2.0 GiB"),
        (5 * 1024**4, "5.0 TiB"),
        (3 * 1024**6, "3072.0 PiB"),
    ],
)
def test_it_shows_iec_units_with_one_decimal(value, shown):
    assert format_bytes(value) == shown.replace(" ", "\xa0")


def test_it_is_the_templates_filter_too():
    template = Template("{% load sizes %}[{{ a|bytesize }}][{{ b|bytesize }}]")

    assert template.render(Context({"a": 2 * 1024**3, "b": None})) == "[2.0\xa0GiB][]"


def test_it_is_the_only_one():
    from django.apps import apps

    packages = [ROOT / "mailpanel"] + [
        Path(config.path)
        for config in apps.get_app_configs()
        if Path(config.path).parent == ROOT
    ]
    others = []
    for package in packages:
        for path in sorted([*package.rglob("*.py"), *package.rglob("*.html")]):
            text = path.read_text()
            if "filesizeformat" in text or re.search(r"[\"']KiB[\"']", text):
                others.append(str(path.relative_to(ROOT)))

    assert others == ["domains/sizes.py"]

"""Sizes in bytes as people read them: one convention for the whole panel.

IEC binary units ("1.5 GiB" is 1.5 x 1024^3 bytes), because Dovecot counts
quotas in multiples of 1024 and a quota of 2 GiB must not read "2.1 GB" in
one place and "2.0 GB" in another. Here, in domains (the app every other one
may import), so that the admin, the portal and the commands share it; the
template filter is ``{% load sizes %}{{ value|bytesize }}``.
"""

from __future__ import annotations

UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")

# Between the number and its unit: never broken across lines.
NBSP = "\N{NO-BREAK SPACE}"


def format_bytes(value: int) -> str:
    """``value`` bytes as "512 B", "1.0 KiB", "1.5 GiB": one decimal above bytes.

    The unit is the largest whose rounded figure stays below 1024, so
    1,048,575 bytes read "1.0 MiB", not "1024.0 KiB".
    """
    value = int(value)
    if abs(value) < 1024:
        return f"{value}{NBSP}B"
    size = float(value)
    for unit in UNITS[1:]:  # noqa: B007 (the last one is the one used)
        size /= 1024
        if round(abs(size), 1) < 1024:
            break
    return f"{size:.1f}{NBSP}{unit}"

"""DNS records as a BIND zone snippet an operator can paste.

Absolute names (with the final dot), so the lines work whatever ``$ORIGIN``
the zone file has. A TXT value is cut into strings of at most 255 bytes
(dkim.keys.txt_strings), the limit of one character-string; a long one is
written across lines in parentheses. Optional records are commented out with
the reason, and PTR records, which live in the address owner's reverse zone,
are listed as comments to ask for.
"""

from __future__ import annotations

from collections.abc import Sequence

from dkim.keys import txt_strings
from monitoring.records import TTL, DnsRecord


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def zone_line(record: DnsRecord, *, width: int = 0) -> str:
    """One record, e.g. ``example.org. 3600 IN TXT "v=spf1 ... -all"``."""
    owner = f"{record.name}.".ljust(width)
    head = f"{owner} {TTL} IN {record.type:<5} "
    if record.type != "TXT":
        return head + record.value
    strings = [_quoted(s) for s in txt_strings(record.value)]
    if len(strings) == 1:
        return head + strings[0]
    indent = " " * (len(head) + 2)
    return head + "( " + f"\n{indent}".join(strings) + " )"


def zone_snippet(domain: str, records: Sequence[DnsRecord]) -> str:
    zone = [r for r in records if r.in_zone]
    width = max((len(r.name) + 1 for r in zone), default=0)
    lines = [f"; DNS records for {domain}, to paste into its zone (mailpanel)."]
    lines += [zone_line(r, width=width) for r in zone if not r.optional]
    optional = [r for r in zone if r.optional]
    if optional:
        lines.append("; Optional, once a web server answers for them (see the page):")
        for record in optional:
            text = zone_line(record, width=width)
            lines += [f"; {line}" for line in text.split("\n")]
    ptrs = [r for r in records if not r.in_zone]
    if ptrs:
        lines.append("; Reverse DNS: ask the owner of each address to set")
        lines += [f"; {zone_line(r)}" for r in ptrs]
    return "\n".join(lines) + "\n"

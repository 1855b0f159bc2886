"""Whether DNS serves a key's record, asked of the app that owns the resolver.

A pending key becomes active once DNS serves its record. dkim imports no app
of ours but domains, and the resolver (``MAILPANEL_DNS_RESOLVER``) belongs to
monitoring, which imports dkim for its DKIM check; so monitoring registers
the lookup here in its ``AppConfig.ready()``, as the house style has a higher
app register with a lower one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dkim.models import DkimKey


@dataclass(frozen=True)
class Publication:
    """What DNS answers for one key's record."""

    served: bool  # the exact key is published
    detail: str  # in words: "matches", "missing", "differs: ...", "cannot check: ..."


Lookup = Callable[["Sequence[DkimKey]"], dict[int, Publication]]

_lookup: Lookup | None = None


class NoLookup(RuntimeError):
    pass


def register(lookup: Lookup) -> None:
    """Called once, by the app that can ask DNS (monitoring)."""
    global _lookup
    _lookup = lookup


def check(keys: Sequence[DkimKey]) -> dict[int, Publication]:
    """Each key's publication, by key id; raises NoLookup when none registered."""
    if _lookup is None:
        raise NoLookup(
            "No DNS lookup is registered for DKIM records (is the monitoring app "
            "installed?); activate with --force instead."
        )
    return _lookup(keys) if keys else {}

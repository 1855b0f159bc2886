"""How many addresses one recipient becomes, counted as Postfix counts it.

Postfix's cleanup expands each original recipient through
``virtual_alias_maps`` (the ``PostfixAlias`` rows) until every address maps
to nothing, or to a list that holds itself (a mailbox: itself, or itself and
its forwards). Beyond ``virtual_alias_expansion_limit`` addresses it defers
the whole message ("4.6.0 Alias expansion error"), so a forward to 3,000
addresses would hold up every message to the mailbox; the limit is rendered
from ``MAILPANEL_ALIAS_EXPANSION_LIMIT`` and checked here before a change is
saved.

The count is taken on the lookup rows themselves, with the rows the change
will write in their place, so it sees what Postfix will see: alias domains,
catch-alls (for an address without a row of its own), forwards and the copy
a mailbox keeps. It counts every address at the end of every branch, as
Postfix's list does; Postfix may count an address that two branches reach
once instead of twice, so this count is never below Postfix's. Besides the
changed addresses, every address whose mail passes through them is counted
again (an alias of the mailbox that gains a forward); addresses that reach
them only through a catch-all are not looked for.
"""

from collections.abc import Iterable, Mapping

from domains.loops import MAX_DEPTH


class _Rows:
    """``virtual_alias_maps`` as Postfix reads it, with rows overridden."""

    def __init__(self, override: Mapping[str, list[str]]) -> None:
        self.known: dict[str, list[str] | None] = dict(override)

    def fetch(self, addresses: Iterable[str]) -> None:
        from domains.lookups import PostfixAlias

        missing = {a for a in addresses if a not in self.known}
        if not missing:
            return
        rows = PostfixAlias.objects.filter(address__in=missing)
        for address, destination in rows.values_list("address", "destination"):
            self.known[address] = destination.split(",")
        # No row of its own: Postfix asks for the domain's catch-all.
        catch_alls = {f"@{a.rpartition('@')[2]}" for a in missing - self.known.keys()}
        self.fetch_exact(catch_alls)
        for address in missing - self.known.keys():
            self.known[address] = self.known[f"@{address.rpartition('@')[2]}"]

    def fetch_exact(self, keys: set[str]) -> None:
        from domains.lookups import PostfixAlias

        keys = keys - self.known.keys()
        rows = PostfixAlias.objects.filter(address__in=keys)
        for address, destination in rows.values_list("address", "destination"):
            self.known[address] = destination.split(",")
        for key in keys - self.known.keys():
            self.known[key] = None

    def targets(self, address: str) -> list[str] | None:
        return self.known[address]


def _sizes(addresses: Iterable[str], rows: _Rows) -> dict[str, int]:
    """How many addresses each of ``addresses`` ends as."""
    reachable: set[str] = set()
    frontier = set(addresses)
    for _ in range(MAX_DEPTH):
        if not frontier:
            break
        rows.fetch(frontier)
        reachable |= frontier
        frontier = {
            target
            for address in frontier
            for target in rows.targets(address) or []
            if target not in reachable
        }
    sizes: dict[str, int] = {}

    def size(address: str, path: frozenset[str]) -> int:
        if address in sizes:
            return sizes[address]
        targets = rows.targets(address) if address in rows.known else None
        if targets is None:
            return 1
        total = 0
        for target in targets:
            # Itself: delivered as it is. A loop (refused by find_loop) or
            # past the depth searched: count it once rather than guess.
            if target == address or target in path or target not in rows.known:
                total += 1
            else:
                total += size(target, path | {address})
        sizes[address] = total
        return total

    return {address: size(address, frozenset()) for address in addresses}


def _senders_through(addresses: set[str]) -> set[str]:
    """Every address whose row leads, directly or not, to one of ``addresses``."""
    from django.db.models import Q

    from domains.lookups import PostfixAlias

    found: set[str] = set()
    # A catch-all's key ("@domain") is in no row's destinations.
    frontier = {a for a in addresses if not a.startswith("@")}
    for _ in range(MAX_DEPTH):
        if not frontier:
            break
        query = Q()
        for address in frontier:
            query |= Q(destination__contains=address)
        parents = {
            source
            for source, destination in PostfixAlias.objects.filter(query).values_list(
                "address", "destination"
            )
            if frontier & set(destination.split(","))
        }
        frontier = parents - found - addresses
        found |= frontier
    return found


def expansion_too_large(
    override: Mapping[str, list[str]], *, limit: int
) -> tuple[str, int] | None:
    """The address that would expand to more than ``limit`` addresses once the
    rows in ``override`` replace the stored ones, and its count; or None.

    ``override`` maps the keys the change writes (``address`` or ``@domain``)
    to their destinations.
    """
    # Cheap first: a row that alone holds too many needs no query.
    for address, targets in override.items():
        if len(targets) > limit:
            return address, len(targets)
    rows = _Rows(override)
    changed = set(override)
    sizes = _sizes(sorted(changed | _senders_through(changed)), rows)
    worst = max(sizes.items(), key=lambda item: item[1], default=None)
    if worst is None or worst[1] <= limit:
        return None
    return worst

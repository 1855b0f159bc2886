"""Detecting alias and forward loops before they are saved.

A loop among local addresses (a → b → a) makes Postfix expand a message until
its hop limit and then bounce it, so it is refused at the form. Loops through
external servers cannot be seen from here; Postfix's own loop detection
(Delivered-To) handles those.
"""

from collections import defaultdict

MAX_DEPTH = 50


def _split(address: str) -> tuple[str, str]:
    local_part, _, domain = address.rpartition("@")
    return local_part, domain


def _expand(addresses: list[str]) -> dict[str, list[str]]:
    """Where mail for each of ``addresses`` goes next, by aliases and forwards."""
    from domains.models import Alias, DomainAlias, Forward

    by_domain: dict[str, list[str]] = defaultdict(list)
    for address in addresses:
        local_part, domain = _split(address)
        by_domain[domain].append(local_part)

    edges: dict[str, list[str]] = defaultdict(list)
    for alias_name, target_name in DomainAlias.objects.filter(
        name__in=by_domain
    ).values_list("name", "target__name"):
        for local_part in by_domain[alias_name]:
            edges[f"{local_part}@{alias_name}"].append(f"{local_part}@{target_name}")
    for domain, local_parts in by_domain.items():
        for local_part, destinations in Alias.objects.filter(
            domain__name=domain, local_part__in=local_parts
        ).values_list("local_part", "destinations"):
            edges[f"{local_part}@{domain}"].extend(destinations.split())
        for local_part, destinations in Forward.objects.filter(
            mailbox__domain__name=domain, mailbox__local_part__in=local_parts
        ).values_list("mailbox__local_part", "destinations"):
            edges[f"{local_part}@{domain}"].extend(destinations.split())
    return edges


def find_loop(source: str, destinations: list[str]) -> list[str] | None:
    """Return the path back to ``source`` if its new destinations lead there.

    ``source``'s own stored edges are never followed: they are the ones being
    replaced. The search is breadth-first, one query per domain per level.
    """
    parent: dict[str, str] = {}
    frontier = []
    for destination in destinations:
        if destination not in parent:
            parent[destination] = source
            frontier.append(destination)
    for _ in range(MAX_DEPTH):
        if source in parent:
            break
        if not frontier:
            return None
        next_frontier = []
        for address, targets in _expand(frontier).items():
            for target in targets:
                if target not in parent:
                    parent[target] = address
                    next_frontier.append(target)
        frontier = next_frontier
    else:
        return None
    path = [source]
    node = parent[source]
    while node != source:
        path.append(node)
        node = parent[node]
    path.append(source)
    return list(reversed(path))

"""Searches of the mail data that an index can answer on a large installation.

Django's admin search ORs ``UPPER(column) LIKE '%term%'`` over its
``search_fields``, the domain's name through a join: no index serves that, and
PostgreSQL read all 100,000 mailboxes of the benchmark database twice per page
(231 ms), or all 100,000 aliases (about 400 ms). Here each term is a
substring match on columns that trigram indexes cover (migrations 0006 and
0007, PostgreSQL's pg_trgm), and the domains whose names match are looked up
first, in the small domain table, so that the query is an OR of index scans
on one table. SQLite has no trigram index and reads every row, with the same
results. docs/admin.md describes the syntax.

``aliases_delivering_to`` finds the aliases with an address among their
destinations, for the mailbox page.
"""

import re

import idna
from django.db.models import Q, QuerySet
from django.utils.text import smart_split, unescape_string_literal

from domains.models import Alias, Domain, Mailbox


def search_terms(text: str) -> list[str]:
    """The terms of ``text``, split on spaces, quotes keeping phrases whole
    (as Django's admin does)."""
    terms = []
    for bit in smart_split(text or ""):
        if bit[0] in "\"'" and bit[-1] == bit[0] and len(bit) > 1:
            bit = unescape_string_literal(bit)
        if bit.strip():
            terms.append(bit.strip())
    return terms


def mailbox_search(queryset: QuerySet[Mailbox], text: str) -> QuerySet[Mailbox]:
    """The mailboxes of ``queryset`` that match every term of ``text``.

    A term without ``@`` matches a mailbox whose local part, domain name or
    display name contains it; a term with ``@`` matches a mailbox whose
    address contains it (``anna@exa`` finds ``joanna@example.org``). Letter
    case never matters.
    """
    terms = search_terms(text)
    if not terms:
        return queryset
    domains = _domains_containing(terms)
    for term in terms:
        queryset = queryset.filter(_mailbox_condition(term.lower(), term, domains))
    return queryset


def _mailbox_condition(term: str, typed: str, domains: dict[int, str]) -> Q:
    # Local parts and domain names are stored in lower case (constraints in
    # domains.models), so a case-sensitive LIKE on the lower-cased term finds
    # them, through an index on the column itself. The display name keeps its
    # case: icontains is UPPER(name) LIKE UPPER(term), and the index is on
    # UPPER(name).
    if "@" in term:
        return _address_condition(term, domains)
    return (
        Q(local_part__contains=term)
        | Q(domain_id__in=_ids_containing(term, domains))
        | Q(name__icontains=typed)
    )


def alias_search(queryset: QuerySet[Alias], text: str) -> QuerySet[Alias]:
    """The aliases of ``queryset`` that match every term of ``text``.

    A term without ``@`` matches an alias whose local part, domain name,
    destinations or description contain it; a term with ``@`` matches an
    alias whose address or destinations contain it. Letter case never
    matters.
    """
    terms = search_terms(text)
    if not terms:
        return queryset
    domains = _domains_containing(terms)
    for term in terms:
        lower = term.lower()
        # Destinations are stored normalised, in lower case, like local parts.
        destinations = Q(destinations__contains=lower)
        if "@" in lower:
            condition = _address_condition(lower, domains) | destinations
        else:
            condition = (
                Q(local_part__contains=lower)
                | Q(domain_id__in=_ids_containing(lower, domains))
                | destinations
                | Q(description__icontains=term)
            )
        queryset = queryset.filter(condition)
    return queryset


def _address_condition(term: str, domains: dict[int, str]) -> Q:
    """``local@domain`` contains ``term`` (which has an @): the local part
    ends with what is before it, the domain starts with what is after it."""
    local_part, _, domain = term.rpartition("@")
    condition = Q()
    if local_part:
        condition &= Q(local_part__endswith=local_part)
    if domain:
        domain = _stored_form(domain)
        ids = [pk for pk, name in domains.items() if name.startswith(domain)]
        condition &= Q(domain_id__in=ids)
    return condition


def _ids_containing(term: str, domains: dict[int, str]) -> list[int]:
    return [pk for pk, name in domains.items() if _stored_form(term) in name]


def _domains_containing(terms: list[str]) -> dict[int, str]:
    """The domains whose names contain a term's domain part, in one query.

    Matching them in the mailbox query would join every mailbox to its domain
    first; their ids instead make ``domain_id IN (...)``, which the index on
    ``domain_id`` answers beside the other conditions.
    """
    wanted = Q()
    for term in terms:
        domain = term.lower().rpartition("@")[2]
        if domain:
            wanted |= Q(name__contains=_stored_form(domain))
    if not wanted:
        return {}
    return dict(Domain.objects.filter(wanted).order_by().values_list("pk", "name"))


def _stored_form(text: str) -> str:
    """``text`` as it would appear in a stored (IDNA) domain name: a term with
    non-ASCII letters matches whole labels (``bücher`` finds
    ``xn--bcher-kva.example``)."""
    if text.isascii():
        return text
    labels = []
    for label in text.split("."):
        try:
            labels.append(idna.encode(label, uts46=True).decode("ascii"))
        except idna.IDNAError:
            labels.append(label)
    return ".".join(labels)


def aliases_delivering_to(address: str) -> QuerySet[Alias]:
    """The aliases with ``address`` among their destinations, exactly
    (``anna@example.org`` is not in ``joanna@example.org``).

    A regular expression on whole whitespace-separated words, as
    ``Alias.destination_list`` splits them. On PostgreSQL the search's
    trigram index on the destinations answers it; LIKE '%address%' read
    every alias (45-50 ms on 100,000).
    """
    word = rf"(^|\s){re.escape(address)}(\s|$)"
    return Alias.objects.filter(destinations__regex=word)

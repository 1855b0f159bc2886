"""Searches of the mail data that an index can answer on a large installation.

``aliases_delivering_to`` finds the aliases with an address among their
destinations; the admin's mailbox page lists them.

Django's admin search ORs ``UPPER(column) LIKE '%term%'`` over its
``search_fields``, the domain's name through a join: no index serves that, and
PostgreSQL read all 100,000 mailboxes of the benchmark database twice per page
(231 ms). Here each term is a substring match on columns that a trigram index
covers (migration 0006, PostgreSQL's pg_trgm), and the domains whose names
match are looked up first, in the small domain table, so that the mailbox
query is an OR of index scans on one table. SQLite has no trigram index and
reads every row, with the same results. docs/admin.md describes the syntax.
"""

import re

import idna
from django.contrib.postgres.fields import ArrayField
from django.db import connections
from django.db.models import Func, Q, QuerySet, TextField
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
        local_part, _, domain = term.rpartition("@")
        condition = Q()
        if local_part:
            condition &= Q(local_part__endswith=local_part)
        if domain:
            domain = _stored_form(domain)
            ids = [pk for pk, name in domains.items() if name.startswith(domain)]
            condition &= Q(domain_id__in=ids)
        return condition
    ids = [pk for pk, name in domains.items() if _stored_form(term) in name]
    return (
        Q(local_part__contains=term) | Q(domain_id__in=ids) | Q(name__icontains=typed)
    )


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


class _Destinations(Func):
    """An alias's destinations as an array, split where destination_list
    splits them: the expression migration 0007 indexes (PostgreSQL)."""

    function = "regexp_split_to_array"
    template = r"%(function)s(%(expressions)s, '\s+')"
    output_field = ArrayField(TextField())


def aliases_delivering_to(address: str) -> QuerySet[Alias]:
    """The aliases with ``address`` among their destinations, exactly
    (``anna@example.org`` is not in ``joanna@example.org``)."""
    aliases = Alias.objects.all()
    if connections[aliases.db].vendor == "postgresql":
        # Array containment, which the GIN index on the same expression
        # answers; LIKE '%address%' read every alias (45-50 ms on 100,000).
        destinations = _Destinations("destinations")
        return aliases.alias(targets=destinations).filter(targets__contains=[address])
    # SQLite has no such index: the same answer from a scan.
    return aliases.filter(destinations__regex=rf"(^|\s){re.escape(address)}(\s|$)")

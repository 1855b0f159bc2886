"""Helpers for the domains tests."""

from django.db import connection

from domains.models import Alias, Domain, DomainAlias, Forward, Mailbox, SendAsIdentity

PASSWORD = "correct horse battery staple"


def saved(obj):
    """full_clean() then save(), as every write path in the panel does."""
    obj.full_clean()
    obj.save()
    return obj


def view_rows(view: str, *columns: str) -> set[tuple]:
    """All rows of an SQL-interface view, as Postfix or Dovecot would see them."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(columns)} FROM {view}")  # noqa: S608
        return {tuple(row) for row in cursor.fetchall()}


def lookup(view: str, column: str, key_column: str, key: str) -> list:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {column} FROM {view} WHERE {key_column} = %s",  # noqa: S608
            [key],
        )
        return [row[0] for row in cursor.fetchall()]


def table_counts() -> dict[str, int]:
    """Row counts of every source and lookup table, to prove nothing was written."""
    from domains import lookups

    models = [Domain, DomainAlias, Mailbox, Alias, Forward, SendAsIdentity]
    return {m.__name__: m.objects.count() for m in [*models, *lookups.LOOKUP_MODELS]}

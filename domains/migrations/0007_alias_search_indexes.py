"""Trigram indexes for the admin's alias search and the mailbox page's
"aliases that deliver here" (domains.search).

Like 0006 for mailboxes: substring matches (``LIKE '%term%'``) on the local
part, the destinations and the description read every alias; pg_trgm's GIN
indexes answer them, and the destinations' index also answers the regular
expression that finds an address among them. Local parts and destinations
are stored in lower case and searched as they are; the description as
``UPPER(description)``.

PostgreSQL only (see 0006); SQLite scans the aliases, with the same results.
"""

from django.db import migrations

INDEXES = {
    "domains_alias_local_part_trgm": (
        "domains_alias USING gin (local_part gin_trgm_ops)"
    ),
    "domains_alias_destinations_trgm": (
        "domains_alias USING gin (destinations gin_trgm_ops)"
    ),
    "domains_alias_description_trgm": (
        "domains_alias USING gin (upper(description) gin_trgm_ops)"
    ),
}


def create_indexes(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, definition in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX {name} ON {definition}")


def drop_indexes(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("domains", "0006_mailbox_search_indexes")]

    operations = [migrations.RunPython(create_indexes, drop_indexes)]

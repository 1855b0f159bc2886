"""Trigram indexes for the admin's mailbox search (domains.search).

The search matches substrings of the local part and of the display name:
``LIKE '%term%'``, which a B-tree cannot answer and which read every mailbox.
pg_trgm's GIN indexes can (for terms of three characters or more). The local
part is stored in lower case and is searched as it is; the display name is
searched as ``UPPER(name) LIKE UPPER(term)`` (Django's icontains), so its
index is on that expression.

PostgreSQL only. pg_trgm ships with PostgreSQL (Debian's postgresql-NN
package) and is a trusted extension: the database's owner may create it
without being a superuser. On SQLite there is nothing to create: its search
reads every row, as before.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

INDEXES = {
    "domains_mailbox_local_part_trgm": (
        "domains_mailbox USING gin (local_part gin_trgm_ops)"
    ),
    "domains_mailbox_name_trgm": "domains_mailbox USING gin (upper(name) gin_trgm_ops)",
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
    dependencies = [("domains", "0005_sender_access")]

    operations = [
        # Does nothing on other databases.
        TrigramExtension(),
        migrations.RunPython(create_indexes, drop_indexes),
    ]

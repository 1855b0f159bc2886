"""An index of each alias's destinations, for domains.search.aliases_delivering_to.

A mailbox's admin page lists the aliases that deliver to it. Destinations are
one text column (an address per line), so that asked for
``destinations LIKE '%address%'`` and read every alias. A GIN index on the
column split into an array answers ``@> ARRAY[address]`` exactly.

PostgreSQL only; SQLite scans the aliases, with the same result.
"""

from django.db import migrations

NAME = "domains_alias_destinations_gin"
# The same expression as domains.search._Destinations, character for
# character: PostgreSQL uses an expression index only for that expression.
DEFINITION = r"domains_alias USING gin (regexp_split_to_array(destinations, '\s+'))"


def create_index(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"CREATE INDEX {NAME} ON {DEFINITION}")


def drop_index(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {NAME}")


class Migration(migrations.Migration):
    dependencies = [("domains", "0006_mailbox_search_indexes")]

    operations = [migrations.RunPython(create_index, drop_index)]

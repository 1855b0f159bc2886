"""RelayHost.spf_include: the provider's SPF include, for the DNS records page.

SQLite cannot add a NOT NULL column in place, so Django rebuilds the table,
and a rebuild fails while the views of 0002 read it ("error in view
mailpanel_sender_relays"). On SQLite only, the views are dropped first and
created again after; PostgreSQL adds the column in place and keeps the views
(and the mail server role's grants on them) untouched.
"""

import importlib

from django.db import migrations, models

VIEWS = importlib.import_module("relays.migrations.0002_sql_interface").VIEWS


def _on_sqlite(sql: str):
    def run(apps, schema_editor) -> None:
        if schema_editor.connection.vendor != "sqlite":
            return
        for name, query in VIEWS.items():
            schema_editor.execute(sql.format(name=name, query=query))

    return run


drop_views = _on_sqlite("DROP VIEW IF EXISTS {name}")
create_views = _on_sqlite("CREATE VIEW {name} AS {query}")


class Migration(migrations.Migration):
    dependencies = [
        ("relays", "0002_sql_interface"),
    ]

    operations = [
        migrations.RunPython(drop_views, create_views),
        migrations.AddField(
            model_name="relayhost",
            name="spf_include",
            field=models.CharField(
                blank=True,
                help_text="The domain the provider's SPF instructions name after "
                "include:, e.g. _spf.provider.example. The DNS records page adds "
                "it to the SPF record of every domain whose mail goes through this "
                "relay.",
                max_length=253,
                verbose_name="SPF include",
            ),
        ),
        migrations.RunPython(create_views, drop_views),
    ]

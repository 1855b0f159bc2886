"""The relay routes Postfix reads (docs/sql-interface.md, docs/relay-hosts.md).

``mailpanel_sender_relays`` answers "which relay for this sender?" with one
row per sender address (priority 0) and one per hosted or alias domain with a
relay (priority 1). Domain rows join ``domains_postfixdomain``, which already
lists every active domain and its active alias domains, so an alias domain or
a deactivated domain is followed without a rebuild; a lookup by ``domain`` is
still an index probe on that table's unique name. ``mailpanel_default_relay``
is the one default relay, if any. Plain SQL that PostgreSQL and SQLite accept.
"""

from django.db import migrations

VIEWS = {
    "mailpanel_sender_relays": (
        "SELECT s.address AS sender, CAST(NULL AS VARCHAR(253)) AS domain, "
        "0 AS priority, r.transport AS transport "
        "FROM relays_senderrelay s JOIN relays_relayhost r ON r.id = s.relay_id "
        "UNION ALL "
        "SELECT CAST(NULL AS VARCHAR(254)), pd.name, 1, r.transport "
        "FROM domains_postfixdomain pd "
        "JOIN relays_domainrelay d ON d.domain_id = pd.domain_id "
        "JOIN relays_relayhost r ON r.id = d.relay_id"
    ),
    "mailpanel_default_relay": (
        "SELECT transport FROM relays_relayhost WHERE is_default"
    ),
}


class Migration(migrations.Migration):
    dependencies = [
        ("relays", "0001_initial"),
        ("domains", "0002_sql_interface"),
    ]

    operations = [
        migrations.RunSQL(
            sql=f"CREATE VIEW {name} AS {query}",
            reverse_sql=f"DROP VIEW {name}",
        )
        for name, query in VIEWS.items()
    ]

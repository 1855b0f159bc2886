"""Port 25's sender check gets its own lookup table and view.

It used to read ``mailpanel_sender_logins`` with ``LIMIT 1`` (an address has
a row per login that may use it), and so refused strangers every owned
address, an identity at another provider included: mail that provider sent
for it was refused. ``mailpanel_sender_access`` holds one row per owned
address of a hosted domain.

The table is filled here from the existing sender-login rows, so that no
window opens between the upgrade and the next rebuild in which port 25
accepts a hosted sender from a stranger; and whoever may read
``mailpanel_sender_logins`` (the mail server's role) may read the new view.
"""

import django.db.models.deletion
from django.db import migrations, models

import domains.lookups

VIEW = "mailpanel_sender_access"
ACTION = "REJECT 5.7.1 Log in to send as this address"


def fill(apps, schema_editor) -> None:
    PostfixDomain = apps.get_model("domains", "PostfixDomain")
    PostfixSenderLogin = apps.get_model("domains", "PostfixSenderLogin")
    PostfixSenderAccess = apps.get_model("domains", "PostfixSenderAccess")
    # Every hosted name (domains and alias domains), with the domain whose
    # rows it belongs to.
    hosts = dict(PostfixDomain.objects.values_list("name", "domain_id"))
    addresses = PostfixSenderLogin.objects.values_list("address", flat=True)
    owned = {}
    for address in addresses.distinct().iterator():
        domain_id = hosts.get(address.rpartition("@")[2])
        if domain_id is not None:
            owned[address] = domain_id
    PostfixSenderAccess.objects.bulk_create(
        (
            PostfixSenderAccess(domain_id=domain_id, address=address, action=ACTION)
            for address, domain_id in sorted(owned.items())
        ),
        batch_size=1000,
    )


def grant_like_sender_logins(apps, schema_editor) -> None:
    """Whoever could read the view the query used to read can read this one.

    A mail server's read-only role (docs/mailserver.md) otherwise meets a
    permission error on its next port 25 lookup, and every inbound message
    gets a 4xx until someone grants it.
    """
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' "
            "ELSE quote_ident(pg_get_userbyid(a.grantee)) END "
            "FROM pg_class c, aclexplode(c.relacl) a "
            "WHERE c.oid = 'mailpanel_sender_logins'::regclass "
            "AND a.grantee <> c.relowner AND a.privilege_type = 'SELECT'"
        )
        for (grantee,) in cursor.fetchall():
            cursor.execute(f"GRANT SELECT ON {VIEW} TO {grantee}")


class Migration(migrations.Migration):
    dependencies = [("domains", "0004_lookup_keys_in_byte_order")]

    operations = [
        migrations.CreateModel(
            name="PostfixSenderAccess",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True,
                        primary_key=True,
                        serialize=False,
                        verbose_name="ID",
                    ),
                ),
                ("address", domains.lookups.LookupKey(max_length=254)),
                ("action", models.CharField(max_length=200)),
                (
                    "domain",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="domains.domain",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("address",), name="postfixsenderaccess_key"
                    )
                ],
            },
        ),
        migrations.RunSQL(
            sql=f"CREATE VIEW {VIEW} AS "
            "SELECT address, action FROM domains_postfixsenderaccess",
            reverse_sql=f"DROP VIEW {VIEW}",
        ),
        migrations.RunPython(grant_like_sender_logins, migrations.RunPython.noop),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]

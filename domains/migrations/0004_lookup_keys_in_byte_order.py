"""The key columns of the lookup tables compare byte by byte (COLLATE "C").

See ``domains.lookups.LookupKey`` for why. PostgreSQL only: on SQLite the
columns already compare bytes, so there only Django's model state changes.

PostgreSQL will not change a column's collation while a view reads it, so the
views over these tables are dropped and created again from their own stored
definitions, inside the migration's transaction, with the privileges they had:
an operator's ``GRANT SELECT`` to the mail server's role (docs/mailserver.md)
survives. Each index on a key column is rebuilt by the ALTER.
"""

from django.db import migrations

import domains.lookups

# table: (key column, its varchar length)
KEYS = {
    "domains_postfixdomain": ("name", 253),
    "domains_postfixmailbox": ("address", 254),
    "domains_postfixalias": ("address", 254),
    "domains_postfixsenderlogin": ("address", 254),
    "domains_postfixrecipientaccess": ("address", 254),
    "domains_dovecotlogin": ("login", 272),
    "domains_dovecotuser": ("username", 254),
}

# Every view that reads one of the tables, directly or through another view,
# in creation order (a view's oid is always above those of what it reads).
DEPENDENT_VIEWS = """
WITH RECURSIVE readers(oid) AS (
    SELECT rw.ev_class
    FROM pg_depend d JOIN pg_rewrite rw ON rw.oid = d.objid
    WHERE d.classid = 'pg_rewrite'::regclass
      AND d.refclassid = 'pg_class'::regclass
      AND d.refobjid = ANY(%s::regclass[])
      AND rw.ev_class <> d.refobjid
    UNION
    SELECT rw.ev_class
    FROM readers r
    JOIN pg_depend d ON d.refobjid = r.oid
        AND d.classid = 'pg_rewrite'::regclass
        AND d.refclassid = 'pg_class'::regclass
    JOIN pg_rewrite rw ON rw.oid = d.objid
    WHERE rw.ev_class <> d.refobjid
)
SELECT DISTINCT c.oid, c.oid::regclass::text, pg_get_viewdef(c.oid),
       pg_get_userbyid(c.relowner)
FROM readers r JOIN pg_class c ON c.oid = r.oid
WHERE c.relkind = 'v'
ORDER BY c.oid
"""

# The privileges granted on a view, owner's own aside: what GRANT restores.
VIEW_GRANTS = """
SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC'
            ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
       a.privilege_type, a.is_grantable
FROM pg_class c, aclexplode(c.relacl) a
WHERE c.oid = %s AND a.grantee <> c.relowner
"""


def set_key_collation(schema_editor, collation: str) -> None:
    """Give every key column ``collation``, keeping the views that read them."""
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    quote = schema_editor.quote_name
    with connection.cursor() as cursor:
        # ALTER TABLE refuses a table with deferred foreign-key checks still
        # pending in this transaction (rows written before, in the same one).
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(DEPENDENT_VIEWS, [list(KEYS)])
        views = []
        for oid, name, definition, owner in cursor.fetchall():
            cursor.execute(VIEW_GRANTS, [oid])
            views.append((name, definition, owner, cursor.fetchall()))
        if views:
            cursor.execute("DROP VIEW " + ", ".join(name for name, *_ in views))
        for table, (column, length) in KEYS.items():
            cursor.execute(
                f"ALTER TABLE {quote(table)} ALTER COLUMN {quote(column)} "
                f"TYPE varchar({length}) COLLATE {collation}"
            )
        cursor.execute("SELECT current_user")
        (me,) = cursor.fetchone()
        for name, definition, owner, grants in views:
            cursor.execute(f"CREATE VIEW {name} AS {definition}")
            if owner != me:
                cursor.execute(f"ALTER VIEW {name} OWNER TO {quote(owner)}")
            for grantee, privilege, grantable in grants:
                option = " WITH GRANT OPTION" if grantable else ""
                cursor.execute(f"GRANT {privilege} ON {name} TO {grantee}{option}")


def to_byte_order(apps, schema_editor) -> None:
    set_key_collation(schema_editor, '"C"')


def to_default_order(apps, schema_editor) -> None:
    set_key_collation(schema_editor, 'pg_catalog."default"')


def _key(table: str) -> migrations.AlterField:
    column, length = KEYS[table]
    return migrations.AlterField(
        model_name=table.removeprefix("domains_"),
        name=column,
        field=domains.lookups.LookupKey(max_length=length),
    )


class Migration(migrations.Migration):
    dependencies = [("domains", "0003_host_neutral_dovecot_lookups")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[_key(table) for table in KEYS],
            database_operations=[
                migrations.RunPython(to_byte_order, to_default_order),
            ],
        )
    ]

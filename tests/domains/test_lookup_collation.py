"""Migrations that touch the SQL interface on PostgreSQL: the lookup keys
compare byte by byte (0004) and nothing an operator granted on the views is
lost on the way (0004, 0005)."""

import importlib

import pytest
from django.db import connection

from domains import lookups
from domains.models import Domain, Mailbox

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

migration = importlib.import_module("domains.migrations.0004_lookup_keys_in_byte_order")
READER = "mailpanel_test_reader"


@pytest.fixture(autouse=True)
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.fail("collations are checked on PostgreSQL; set DATABASE_URL")


def key_collations() -> dict[str, str | None]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, collation_name FROM information_schema.columns "
            "WHERE (table_name, column_name) IN ("
            + ", ".join(["(%s, %s)"] * len(migration.KEYS))
            + ")",
            [
                value
                for table, (col, _) in migration.KEYS.items()
                for value in (table, col)
            ],
        )
        return dict(cursor.fetchall())


def can_read(role: str, view: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT has_table_privilege(%s, %s, 'SELECT')", [role, view])
        return cursor.fetchone()[0]


def test_every_key_column_is_in_byte_order():
    keys = {
        model._meta.db_table: field.column
        for model in lookups.LOOKUP_MODELS
        for field in model._meta.concrete_fields
        if isinstance(field, lookups.LookupKey)
    }
    assert len(keys) == len(lookups.LOOKUP_MODELS)
    # Migration 0004 covered the tables of its day; later ones are created so.
    assert {t: c for t, (c, _) in migration.KEYS.items()}.items() <= keys.items()
    with connection.cursor() as cursor:
        for table, column in keys.items():
            cursor.execute(
                "SELECT collation_name FROM information_schema.columns "
                "WHERE table_name = %s AND column_name = %s",
                [table, column],
            )
            assert cursor.fetchall() == [("C",)], table


def test_the_migration_keeps_views_rows_and_grants_both_ways():
    domain = Domain.objects.create(name="example.org")
    Mailbox.objects.create(domain=domain, local_part="alice", password="{PLAIN}x")
    with connection.cursor() as cursor:
        # Rolled back with the test's transaction, like everything here.
        cursor.execute(f"CREATE ROLE {READER}")
        cursor.execute(f"GRANT SELECT ON mailpanel_virtual_mailboxes TO {READER}")
        cursor.execute(
            f"GRANT SELECT ON mailpanel_dovecot_userdb TO {READER} WITH GRANT OPTION"
        )
        cursor.execute(
            "SELECT count(*) FROM pg_views WHERE viewname LIKE 'mailpanel%%'"
        )
        (views_before,) = cursor.fetchone()

    with connection.schema_editor(atomic=False) as editor:
        migration.set_key_collation(editor, 'pg_catalog."default"')
    assert set(key_collations().values()) == {None}
    with connection.schema_editor(atomic=False) as editor:
        migration.set_key_collation(editor, '"C"')
    assert key_collations() == dict.fromkeys(migration.KEYS, "C")

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_views WHERE viewname LIKE 'mailpanel%%'"
        )
        assert cursor.fetchone()[0] == views_before
        cursor.execute(
            "SELECT maildir FROM mailpanel_virtual_mailboxes "
            "WHERE address = 'alice@example.org'"
        )
        assert cursor.fetchall() == [("example.org/alice/",)]
        cursor.execute(
            "SELECT privilege_type, is_grantable "
            "FROM information_schema.role_table_grants "
            "WHERE grantee = %s ORDER BY table_name",
            [READER],
        )
        assert cursor.fetchall() == [("SELECT", "YES"), ("SELECT", "NO")]
    assert can_read(READER, "mailpanel_virtual_mailboxes")
    assert can_read(READER, "mailpanel_dovecot_userdb")
    assert not can_read(READER, "mailpanel_virtual_aliases")


def test_the_sender_access_view_is_granted_to_the_mail_servers_role():
    upgrade = importlib.import_module("domains.migrations.0005_sender_access")
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {READER}")
        cursor.execute(f"GRANT SELECT ON mailpanel_sender_logins TO {READER}")
        cursor.execute(f"REVOKE ALL ON mailpanel_sender_access FROM {READER}")
    assert not can_read(READER, "mailpanel_sender_access")
    with connection.schema_editor(atomic=False) as editor:
        upgrade.grant_like_sender_logins(None, editor)
    assert can_read(READER, "mailpanel_sender_access")
    assert not can_read(READER, "mailpanel_recipient_access")

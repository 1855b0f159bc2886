"""Migration 0008 stops, naming them, when rows break the new alphabet.

Renaming a mailbox is the administrator's decision, so the migration
changes nothing and says which rows to fix (docs/addresses.md).
"""

import pytest
from django.core.management.base import CommandError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("domains", "0007_alias_search_indexes")]
AFTER = [("domains", "0008_local_part_alphabet")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def old_schema(transactional_db):
    apps = migrate(BEFORE)
    yield apps
    # The rows the test left would stop the way back to the current schema.
    for name in ("Alias", "Mailbox", "Domain"):
        apps.get_model("domains", name).objects.all().delete()
    migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def rows(apps):
    Domain = apps.get_model("domains", "Domain")
    Mailbox = apps.get_model("domains", "Mailbox")
    Alias = apps.get_model("domains", "Alias")
    domain = Domain.objects.create(name="example.org")
    return domain, Mailbox, Alias


def test_it_names_every_row_outside_the_alphabet_and_changes_nothing(old_schema):
    domain, Mailbox, Alias = rows(old_schema)
    Mailbox.objects.create(domain=domain, local_part="alice", password="x")
    bad = Mailbox.objects.create(domain=domain, local_part="alice/", password="x")
    Mailbox.objects.create(domain=domain, local_part="o'brien", password="x")
    Alias.objects.create(domain=domain, local_part="", destinations="a@b.example")
    Alias.objects.create(domain=domain, local_part="a%d", destinations="a@b.example")

    with pytest.raises(CommandError) as excinfo:
        migrate(AFTER)

    message = str(excinfo.value)
    assert f"mailbox {bad.pk}: 'alice/'@example.org" in message
    assert '"o\'brien"@example.org' in message
    assert "alias" in message and "'a%d'@example.org" in message
    assert "'alice'@" not in message and "''@" not in message
    assert sorted(Mailbox.objects.values_list("local_part", flat=True)) == [
        "alice",
        "alice/",
        "o'brien",
    ]


def test_it_migrates_when_every_row_is_in_the_alphabet(old_schema):
    domain, Mailbox, Alias = rows(old_schema)
    Mailbox.objects.create(domain=domain, local_part="a.b-c_d", password="x")
    Alias.objects.create(domain=domain, local_part="", destinations="a@b.example")

    apps = migrate(AFTER)

    assert apps.get_model("domains", "Mailbox").objects.count() == 1

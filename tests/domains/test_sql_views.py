"""The rows each SQL-interface view serves, on PostgreSQL and on SQLite."""

import importlib

import pytest
from django.apps import apps as django_apps
from django.db import connection

from domains import lookups, services
from domains.models import Domain, DomainAlias, Forward, Mailbox, SendAsIdentity
from domains.sql_interface import (
    DOVECOT_USER_QUERY,
    POSTFIX_QUERIES,
    expand_postfix_query,
)
from tests.domains.utils import lookup, saved, view_rows

pytestmark = pytest.mark.django_db

DOMAINS = "mailpanel_virtual_domains"
MAILBOXES = "mailpanel_virtual_mailboxes"
ALIASES = "mailpanel_virtual_aliases"
SENDERS = "mailpanel_sender_logins"
ACCESS = "mailpanel_recipient_access"
SENDER_ACCESS = "mailpanel_sender_access"
PASSDB = "mailpanel_dovecot_passdb"
USERDB = "mailpanel_dovecot_userdb"


def alias_of(address: str) -> list[str]:
    return lookup(ALIASES, "destination", "address", address)


def logins(address: str) -> set[str]:
    return set(lookup(SENDERS, "login", "address", address))


def test_it_serves_active_domains_and_alias_domains(domain):
    saved(DomainAlias(name="alias.example", target=domain))
    saved(DomainAlias(name="off.example", target=domain, active=False))
    saved(Domain(name="inactive.example", active=False))
    assert view_rows(DOMAINS, "domain") == {("example.org",), ("alias.example",)}


def test_an_inactive_domain_disappears_with_its_alias_domains(domain, make_mailbox):
    saved(DomainAlias(name="alias.example", target=domain))
    make_mailbox(domain, "alice")
    domain.active = False
    saved(domain)
    for view in (DOMAINS, MAILBOXES, ALIASES, SENDERS, PASSDB):
        assert view_rows(view, "*") == set()


def test_it_serves_mailboxes_with_their_maildir(domain, make_mailbox):
    make_mailbox(domain, "alice")
    assert view_rows(MAILBOXES, "address", "maildir") == {
        ("alice@example.org", "example.org/alice/")
    }
    # The self-row that keeps a catch-all from swallowing the mailbox.
    assert alias_of("alice@example.org") == ["alice@example.org"]


def test_an_inactive_mailbox_is_refused_not_caught(domain, make_mailbox, make_alias):
    make_mailbox(domain, "alice", active=False)
    make_alias(domain, "", "catch@example.net")
    assert view_rows(MAILBOXES, "address") == set()
    assert alias_of("alice@example.org") == []
    assert lookup(ACCESS, "action", "address", "alice@example.org") == [
        lookups.DISABLED_ACTION
    ]
    assert view_rows(PASSDB, "username") == set()


def test_every_deliverable_address_is_accepted_by_the_access_view(
    domain, make_mailbox, make_alias
):
    # smtpd takes OK for it on this one query, without asking the alias map.
    make_mailbox(domain, "alice")
    make_mailbox(domain, "old", active=False)
    make_alias(domain, "sales", "alice@example.org")
    make_alias(domain, "", "alice@example.org")
    saved(DomainAlias(name="alias.example", target=domain))
    assert view_rows(ACCESS, "address", "action") == {
        ("alice@example.org", "OK"),
        ("alice@alias.example", "OK"),
        ("sales@example.org", "OK"),
        ("sales@alias.example", "OK"),
        ("old@example.org", lookups.DISABLED_ACTION),
        ("old@alias.example", lookups.DISABLED_ACTION),
    }
    # Catch-alls keep no row: an unknown address still meets
    # reject_unlisted_recipient, which finds the catch-all.
    assert {address for (address,) in view_rows(ALIASES, "address")} - {
        address for (address,) in view_rows(ACCESS, "address")
    } == {"@example.org", "@alias.example"}


def test_it_serves_an_alias_with_two_destinations(domain, make_mailbox, make_alias):
    make_mailbox(domain, "alice")
    make_alias(domain, "sales", "alice@example.org\nBob@Example.NET")
    assert alias_of("sales@example.org") == ["alice@example.org,bob@example.net"]


def test_an_inactive_alias_is_refused(domain, make_alias):
    make_alias(domain, "old", "x@example.net", active=False)
    assert alias_of("old@example.org") == []
    assert lookup(ACCESS, "action", "address", "old@example.org") != []


def test_it_serves_a_catch_all(domain, make_alias):
    make_alias(domain, "", "catch@example.net")
    assert alias_of("@example.org") == ["catch@example.net"]


def test_it_serves_a_forward_with_a_copy(domain, make_mailbox):
    alice = make_mailbox(domain, "alice")
    saved(Forward(mailbox=alice, destinations="x@example.net y@example.net"))
    assert alias_of("alice@example.org") == [
        "alice@example.org,x@example.net,y@example.net"
    ]


def test_it_serves_a_forward_without_a_copy(domain, make_mailbox):
    alice = make_mailbox(domain, "alice")
    saved(Forward(mailbox=alice, destinations="x@example.net", keep_copy=False))
    assert alias_of("alice@example.org") == ["x@example.net"]
    # Still a mailbox: its stored mail stays readable.
    assert view_rows(MAILBOXES, "address") == {("alice@example.org",)}


def test_an_inactive_forward_delivers_to_the_mailbox(domain, make_mailbox):
    alice = make_mailbox(domain, "alice")
    saved(Forward(mailbox=alice, destinations="x@example.net", active=False))
    assert alias_of("alice@example.org") == ["alice@example.org"]


def test_it_expands_domain_aliases_for_mailboxes_and_aliases(
    domain, make_mailbox, make_alias
):
    make_mailbox(domain, "alice")
    make_alias(domain, "sales", "alice@example.org")
    make_alias(domain, "", "alice@example.org")
    saved(DomainAlias(name="alias.example", target=domain))
    assert alias_of("alice@alias.example") == ["alice@example.org"]
    assert alias_of("sales@alias.example") == ["sales@example.org"]
    assert alias_of("@alias.example") == ["alice@example.org"]
    assert logins("alice@alias.example") == {"alice@example.org"}
    assert logins("sales@alias.example") == {"alice@example.org"}


def test_deleting_a_domain_alias_removes_its_rows(domain, make_mailbox):
    make_mailbox(domain, "alice")
    alias_domain = saved(DomainAlias(name="alias.example", target=domain))
    alias_domain.delete()
    assert alias_of("alice@alias.example") == []
    assert view_rows(DOMAINS, "domain") == {("example.org",)}


def test_sender_logins_cover_owner_aliases_and_identities(
    domain, make_mailbox, make_alias
):
    alice = make_mailbox(domain, "alice")
    make_mailbox(domain, "bob")
    make_alias(domain, "team", "alice@example.org bob@example.org")
    make_alias(domain, "", "alice@example.org")
    saved(SendAsIdentity(mailbox=alice, address="alice@home.example"))
    assert logins("alice@example.org") == {"alice@example.org"}
    assert logins("team@example.org") == {"alice@example.org", "bob@example.org"}
    assert logins("alice@home.example") == {"alice@example.org"}
    # A catch-all grants nobody the whole domain.
    assert logins("@example.org") == set()


def test_an_identity_for_another_domains_address_is_kept_apart(domain, make_mailbox):
    other = saved(Domain(name="example.net"))
    alice = make_mailbox(domain, "alice")
    make_mailbox(other, "boss")
    saved(SendAsIdentity(mailbox=alice, address="boss@example.net"))
    assert logins("boss@example.net") == {"boss@example.net", "alice@example.org"}
    # Rebuilding example.net must not drop alice's grant (it lives with her domain).
    lookups.sync_domains([other.pk])
    assert logins("boss@example.net") == {"boss@example.net", "alice@example.org"}


def test_port_25_refuses_strangers_the_owned_addresses_of_hosted_domains(
    domain, make_mailbox, make_alias
):
    other = saved(Domain(name="example.net"))
    alice = make_mailbox(domain, "alice")
    make_mailbox(domain, "sleepy", active=False)
    make_alias(domain, "team", "alice@example.org")
    make_alias(domain, "", "alice@example.org")
    saved(DomainAlias(name="alias.example", target=domain))
    saved(SendAsIdentity(mailbox=alice, address="ceo@example.org"))
    saved(SendAsIdentity(mailbox=alice, address="boss@example.net"))
    # Her own address at a provider elsewhere: mail it sends must come in.
    saved(SendAsIdentity(mailbox=alice, address="alice@home.example"))
    rows = view_rows(SENDER_ACCESS, "address", "action")
    refused = "REJECT 5.7.1 Log in to send as this address"
    assert rows == {
        (address, refused)
        for address in (
            "alice@example.org",
            "alice@alias.example",
            "team@example.org",
            "team@alias.example",
            "ceo@example.org",
            "boss@example.net",
        )
    }
    # boss@example.net is example.net's row: rebuilding either domain keeps it.
    lookups.sync_domains([other.pk])
    lookups.sync_domains([domain.pk])
    assert ("boss@example.net", refused) in view_rows(
        SENDER_ACCESS, "address", "action"
    )
    assert (
        lookups.PostfixSenderAccess.objects.get(address="boss@example.net").domain
        == other
    )


def test_an_identity_in_a_domain_hosted_later_is_refused_to_strangers(
    domain, make_mailbox
):
    alice = make_mailbox(domain, "alice")
    identity = saved(SendAsIdentity(mailbox=alice, address="alice@later.example"))
    assert lookup(SENDER_ACCESS, "action", "address", "alice@later.example") == []
    later = saved(Domain(name="later.example"))
    assert lookup(SENDER_ACCESS, "action", "address", "alice@later.example") != []
    identity.delete()
    assert lookup(SENDER_ACCESS, "action", "address", "alice@later.example") == []
    saved(SendAsIdentity(mailbox=alice, address="alice@later.example"))
    alice.active = False
    saved(alice)
    assert lookup(SENDER_ACCESS, "action", "address", "alice@later.example") == []
    # The bulk actions and the domain's own switch rebuild the host as well.
    mailboxes = Mailbox.objects.filter(pk=alice.pk)
    services.objects_set_active(queryset=mailboxes, active=True)
    assert lookup(SENDER_ACCESS, "action", "address", "alice@later.example") != []
    domain.active = False
    saved(domain)
    assert lookup(SENDER_ACCESS, "action", "address", "alice@later.example") == []
    domain.active = True
    saved(domain)
    assert lookup(SENDER_ACCESS, "action", "address", "alice@later.example") != []
    services.objects_set_active(
        queryset=Domain.objects.filter(pk=domain.pk), active=False
    )
    assert lookup(SENDER_ACCESS, "action", "address", "alice@later.example") == []
    assert later.pk


def test_the_upgrade_fills_sender_access_as_a_rebuild_would(
    domain, make_mailbox, make_alias
):
    upgrade = importlib.import_module("domains.migrations.0005_sender_access")
    other = saved(Domain(name="example.net"))
    alice = make_mailbox(domain, "alice")
    make_mailbox(other, "boss")
    make_alias(domain, "team", "alice@example.org")
    saved(DomainAlias(name="alias.example", target=domain))
    saved(SendAsIdentity(mailbox=alice, address="boss@example.net"))
    saved(SendAsIdentity(mailbox=alice, address="alice@home.example"))
    rows = lookups.PostfixSenderAccess.objects.values_list(
        "domain_id", "address", "action"
    )
    rebuilt = set(rows)
    assert len(rebuilt) == 5
    lookups.PostfixSenderAccess.objects.all().delete()
    upgrade.fill(django_apps, None)
    assert set(rows) == rebuilt


def test_dovecot_gets_maildir_quota_and_switches(domain, make_mailbox):
    make_mailbox(domain, "alice", quota=1024, pop3_enabled=False)
    assert view_rows(USERDB, "username", "maildir", "quota_rule") == {
        ("alice@example.org", "example.org/alice/", "*:bytes=1024")
    }
    [(imap, pop3, smtp)] = view_rows(
        USERDB, "imap_enabled", "pop3_enabled", "smtp_enabled"
    )
    assert (bool(imap), bool(pop3), bool(smtp)) == (True, False, True)
    assert view_rows(PASSDB, "login", "service") == {
        ("imap:alice@example.org", "imap"),
        ("smtp:alice@example.org", "smtp"),
    }


def test_the_userdb_rows_do_not_depend_on_the_syncing_hosts_settings(
    domain, make_mailbox, settings
):
    # Two mail hosts with different vmail roots rebuild the same domain: the
    # rows must not carry either host's paths (each host's query adds its own).
    settings.MAILPANEL_VMAIL_ROOT = "/srv/host-a"
    make_mailbox(domain, "alice")
    before = view_rows(USERDB, "username", "maildir", "quota_rule")
    settings.MAILPANEL_VMAIL_ROOT = "/srv/host-b"
    settings.MAILPANEL_VMAIL_UID = 6001
    lookups.sync_domains([domain.pk])
    assert view_rows(USERDB, "username", "maildir", "quota_rule") == before


def test_the_user_query_gives_the_maildir_for_the_hosts_mail_home(domain, make_mailbox):
    # Each host's mail_home puts its own root in front (tests/mailserver).
    make_mailbox(domain, "alice", quota=2048)
    query = DOVECOT_USER_QUERY.replace("%u", "alice@example.org")
    with connection.cursor() as cursor:
        cursor.execute(query)
        assert [column[0] for column in cursor.description] == [
            "mailpanel_maildir",
            "quota_rule",
        ]
        assert cursor.fetchall() == [("example.org/alice/", "*:bytes=2048")]


@pytest.mark.parametrize(
    ("service", "allowed"),
    [("imap", True), ("pop3", False), ("smtp", True), ("sieve", False)],
)
def test_the_documented_passdb_query_honours_service_switches(
    domain, make_mailbox, service, allowed
):
    from domains.sql_interface import DOVECOT_PASSWORD_QUERY

    mailbox = make_mailbox(domain, "alice", pop3_enabled=False)
    query = DOVECOT_PASSWORD_QUERY.replace("%u", "alice@example.org").replace(
        "%Ls", service
    )
    with connection.cursor() as cursor:
        cursor.execute(query)
        rows = cursor.fetchall()
    assert rows == ([("alice@example.org", mailbox.password)] if allowed else [])


def test_a_password_change_reaches_dovecot_at_once(domain, make_mailbox):
    alice = make_mailbox(domain, "alice")
    services.mailbox_set_password(mailbox=alice, password="a new long passphrase")
    stored = lookup(PASSDB, "password", "username", "alice@example.org")
    assert stored == [alice.password] * 3
    assert Mailbox.objects.get().check_password("a new long passphrase")


def test_renaming_a_domain_renames_every_key(domain, make_mailbox):
    make_mailbox(domain, "alice")
    domain.name = "example.com"
    saved(domain)
    assert view_rows(MAILBOXES, "address") == {("alice@example.com",)}


def test_bulk_deactivation_updates_the_lookups(domain, make_mailbox):
    make_mailbox(domain, "alice")
    make_mailbox(domain, "bob")
    services.objects_set_active(queryset=Mailbox.objects.all(), active=False)
    assert view_rows(MAILBOXES, "address") == set()
    services.objects_set_active(queryset=Mailbox.objects.all(), active=True)
    assert len(view_rows(MAILBOXES, "address")) == 2


def test_deleting_a_mailbox_removes_its_rows(domain, make_mailbox):
    alice = make_mailbox(domain, "alice")
    saved(SendAsIdentity(mailbox=alice, address="alice@home.example"))
    alice.delete()
    for view in (MAILBOXES, ALIASES, SENDERS, PASSDB):
        assert view_rows(view, "*") == set()


def test_postfix_finds_every_key_its_u_at_d_queries_can_ask_for(
    domain, make_mailbox, make_alias
):
    """The mailbox, sender-login and recipient-access queries are keyed '%u@%d'
    (docs/sql-interface.md): right only while every key of their views is a
    whole address, for which '%u@%d' is the key itself."""
    alice = make_mailbox(domain, "alice")
    make_mailbox(domain, "sleepy", active=False)
    make_alias(domain, "team", "alice@example.org")
    make_alias(domain, "gone", "alice@example.org", active=False)
    make_alias(domain, "", "alice@example.org")
    saved(SendAsIdentity(mailbox=alice, address="alice@home.example"))
    saved(DomainAlias(name="alias.example", target=domain))
    for name, view, column in (
        ("virtual_mailbox_maps", MAILBOXES, "address"),
        ("smtpd_sender_login_maps", SENDERS, "address"),
        ("unauthenticated_sender_access", SENDER_ACCESS, "address"),
        ("recipient_access", ACCESS, "address"),
    ):
        query = POSTFIX_QUERIES[name]
        assert "'%u@%d'" in query
        keys = {row[0] for row in view_rows(view, column)}
        assert keys, view
        for key in keys:
            sent = expand_postfix_query(query, key)
            assert sent == query.replace("%u@%d", key), (view, key)
    # Partial keys never reach the database...
    for key in ("@example.org", "example.org", "alice@", "alice"):
        assert expand_postfix_query(POSTFIX_QUERIES["recipient_access"], key) is None
    # ...which is why the alias map, with its "@domain" catch-alls, keeps '%s'.
    assert "'%s'" in POSTFIX_QUERIES["virtual_alias_maps"]
    assert alias_of("@example.org") == ["alice@example.org"]

"""Every documented lookup is one index probe on PostgreSQL (EXPLAIN)."""

import pytest
from django.db import connection

from domains import lookups
from domains.models import Domain, Mailbox
from domains.sql_interface import (
    DOVECOT_PASSWORD_QUERY,
    DOVECOT_USER_QUERY,
    POSTFIX_QUERIES,
    expand_postfix_query,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

N = 3000
KEYS = {
    "virtual_mailbox_domains": "d7.example",
    "virtual_mailbox_maps": "u7@d7.example",
    "virtual_alias_maps": "u7@d7.example",
    "smtpd_sender_login_maps": "u7@d7.example",
    "recipient_access": "u7@d7.example",
    "unauthenticated_sender_access": "u7@d7.example",
}


@pytest.fixture
def seeded():
    if connection.vendor != "postgresql":
        pytest.fail("EXPLAIN plans are checked on PostgreSQL; set DATABASE_URL")
    # Enough rows that the planner's choice is a real one: on a table of a
    # page or two a sequential scan is cheaper than any index, and is chosen.
    domain = Domain.objects.create(name="seed.example")
    mailboxes = Mailbox.objects.bulk_create(
        Mailbox(domain=domain, local_part=f"u{i}", password="{PLAIN}x")
        for i in range(N)
    )
    rows = {
        lookups.PostfixDomain: [{"name": f"d{i}.example"} for i in range(N)],
        lookups.PostfixMailbox: [
            {"address": f"u{i}@d{i}.example", "maildir": "x/"} for i in range(N)
        ],
        lookups.PostfixAlias: [
            {"address": f"u{i}@d{i}.example", "destination": "x"} for i in range(N)
        ],
        lookups.PostfixSenderLogin: [
            {"address": f"u{i}@d{i}.example", "login": "x"} for i in range(N)
        ],
        lookups.PostfixRecipientAccess: [
            {"address": f"u{i}@d{i}.example", "action": "REJECT"} for i in range(N)
        ],
        lookups.PostfixSenderAccess: [
            {"address": f"u{i}@d{i}.example", "action": "REJECT"} for i in range(N)
        ],
        lookups.DovecotLogin: [
            {
                "login": f"imap:u{i}@d{i}.example",
                "username": f"u{i}@d{i}.example",
                "service": "imap",
                "password": "x",
            }
            for i in range(N)
        ],
        lookups.DovecotUser: [
            {
                "mailbox": mailbox,
                "username": f"u{i}@d{i}.example",
                "password": "x",
                "maildir": "x/",
                "quota_rule": "*:bytes=0",
                "imap_enabled": True,
                "pop3_enabled": True,
                "smtp_enabled": True,
            }
            for i, mailbox in enumerate(mailboxes)
        ],
    }
    for model, fields in rows.items():
        model.objects.bulk_create(model(domain=domain, **f) for f in fields)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def explain(query: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + query)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    print(f"\n{query}\n{plan}")  # shown with pytest -s: the plan is the evidence
    return plan


@pytest.mark.parametrize("name", sorted(POSTFIX_QUERIES))
def test_each_postfix_lookup_is_one_index_probe(seeded, name):
    query = expand_postfix_query(POSTFIX_QUERIES[name], KEYS[name])
    assert query is not None and "%" not in query
    plan = explain(query)
    assert "Index" in plan and "Seq Scan" not in plan and "Join" not in plan


@pytest.mark.parametrize(
    "query",
    [DOVECOT_PASSWORD_QUERY, DOVECOT_USER_QUERY],
    ids=["passdb", "userdb"],
)
def test_each_dovecot_lookup_is_one_index_probe(seeded, query):
    plan = explain(query.replace("%u", "u7@d7.example").replace("%Ls", "imap"))
    assert "Index" in plan and "Seq Scan" not in plan and "Join" not in plan

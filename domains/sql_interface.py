"""The queries Postfix and Dovecot send, in one place.

``mailserver`` renders them into the lookup files, the tests EXPLAIN them and
bench/lookups.py times them; docs/sql-interface.md explains them. In Postfix's
queries ``%s`` is the lookup key, ``%u`` and ``%d`` its local and domain part
(pgsql_table(5)); in Dovecot's, ``%u`` and ``%Ls`` are the user and service.
"""

import re

# '%u@%d' rather than '%s': every key of the mailbox, sender-login and
# recipient-access views is a whole address, "local@domain" with both parts
# non-empty, and for such a key '%u@%d' is the key itself. Postfix also asks
# its maps for partial keys ("@domain", "domain", "local"); for a key without
# an '@', or with an empty local part or domain, it sends no query at all
# (pgsql_table(5)), where '%s' would send one that cannot match. Not for
# virtual_alias_maps: its catch-all rows are keyed "@domain".
POSTFIX_QUERIES: dict[str, str] = {
    "virtual_mailbox_domains": (
        "SELECT 1 FROM mailpanel_virtual_domains WHERE domain = '%s'"
    ),
    "virtual_mailbox_maps": (
        "SELECT maildir FROM mailpanel_virtual_mailboxes WHERE address = '%u@%d'"
    ),
    "virtual_alias_maps": (
        "SELECT destination FROM mailpanel_virtual_aliases WHERE address = '%s'"
    ),
    "smtpd_sender_login_maps": (
        "SELECT login FROM mailpanel_sender_logins WHERE address = '%u@%d'"
    ),
    "recipient_access": (
        "SELECT action FROM mailpanel_recipient_access WHERE address = '%u@%d'"
    ),
    # Port 25 has no SASL, so reject_sender_login_mismatch cannot work there:
    # an address of a hosted domain that has an owner may only be used after
    # logging in. One row per address, so no LIMIT (which cost 3.6 µs).
    "unauthenticated_sender_access": (
        "SELECT action FROM mailpanel_sender_access WHERE address = '%u@%d'"
    ),
}

# One key column, "SERVICE:ADDRESS" (domains.lookups.DovecotLogin): %Ls is the
# service in lower case (imap, pop3, and smtp for Postfix's SASL requests).
DOVECOT_PASSWORD_QUERY = (
    "SELECT username AS user, password FROM mailpanel_dovecot_passdb "
    "WHERE login = '%Ls:%u'"
)


# The maildir relative to the vmail root, so that the rows are the same for
# every mail host: each host's rendered mail_home (mailserver.render) puts its
# own root in front, rather than the query building a string per lookup. The
# alias keeps the userdb field clear of Dovecot's setting names.
DOVECOT_USER_QUERY = (
    "SELECT maildir AS mailpanel_maildir, quota_rule "
    "FROM mailpanel_dovecot_userdb WHERE username = '%u'"
)

DOVECOT_ITERATE_QUERY = "SELECT username AS user FROM mailpanel_dovecot_userdb"

# Relay hosts (relays app, docs/relay-hosts.md): Postfix's
# sender_dependent_default_transport_maps lists both, in this order. Postfix
# tries the full sender in every table before it tries "@domain", so the first
# query answers for the domain itself (%d; Postfix skips it for a key without a
# domain, such as the null sender) and the default cannot shadow a domain's relay.
POSTFIX_RELAY_QUERIES: dict[str, str] = {
    "sender_relay": (
        "SELECT transport FROM mailpanel_sender_relays "
        "WHERE sender = '%s' OR domain = '%d' ORDER BY priority LIMIT 1"
    ),
    "default_relay": "SELECT transport FROM mailpanel_default_relay",
}


def expand_postfix_query(query: str, key: str) -> str | None:
    """The SQL Postfix sends for ``key`` (already escaped), or None if none.

    As pgsql_table(5) and sqlite_table(5) describe it: ``%s`` is the key,
    ``%u`` and ``%d`` its local and domain part, split at the last '@' (``%u``
    is the whole key when it has no '@'). Postfix sends no query when the
    query uses ``%d`` and the key has no '@' or an empty domain, nor when it
    uses ``%u`` and the local part is empty. For the tests and
    bench/lookups.py; ``%%`` is the only other expansion handled.
    """
    local, at, domain = key.rpartition("@") if "@" in key else (key, "", "")
    values = {"%s": key, "%u": local, "%d": domain, "%%": "%"}
    parts = re.split(r"(%[sud%])", query)
    if ("%d" in parts and not domain) or ("%u" in parts and at and not local):
        return None
    return "".join(values.get(part, part) for part in parts)

"""The queries Postfix and Dovecot send, in one place.

``mailserver`` renders them into the lookup files, the tests EXPLAIN them and
bench/lookups.py times them; docs/sql-interface.md explains them. ``%s`` is
Postfix's lookup key; ``%u`` and ``%Ls`` are Dovecot's user and service.
"""

POSTFIX_QUERIES: dict[str, str] = {
    "virtual_mailbox_domains": (
        "SELECT 1 FROM mailpanel_virtual_domains WHERE domain = '%s'"
    ),
    "virtual_mailbox_maps": (
        "SELECT maildir FROM mailpanel_virtual_mailboxes WHERE address = '%s'"
    ),
    "virtual_alias_maps": (
        "SELECT destination FROM mailpanel_virtual_aliases WHERE address = '%s'"
    ),
    "smtpd_sender_login_maps": (
        "SELECT login FROM mailpanel_sender_logins WHERE address = '%s'"
    ),
    "recipient_access": (
        "SELECT action FROM mailpanel_recipient_access WHERE address = '%s'"
    ),
    # Port 25 has no SASL, so reject_sender_login_mismatch cannot work there:
    # an address that has an owner may only be used after logging in. Same
    # view and index as smtpd_sender_login_maps.
    "unauthenticated_sender_access": (
        "SELECT 'REJECT 5.7.1 Log in to send as this address' "
        "FROM mailpanel_sender_logins WHERE address = '%s' LIMIT 1"
    ),
}

# One key column, "SERVICE:ADDRESS" (domains.lookups.DovecotLogin): %Ls is the
# service in lower case (imap, pop3, and smtp for Postfix's SASL requests).
DOVECOT_PASSWORD_QUERY = (
    "SELECT username AS user, password FROM mailpanel_dovecot_passdb "
    "WHERE login = '%Ls:%u'"
)


def dovecot_user_query(vmail_root: str) -> str:
    """The userdb query of a mail host whose maildirs live under ``vmail_root``.

    The rows hold the maildir relative to the root, so that they are the same
    for every host; the caller (mailserver.render) has checked that the root
    is a plain absolute path with no quote or ``%``.
    """
    return (
        f"SELECT '{vmail_root.rstrip('/')}/' || maildir AS home, quota_rule "
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

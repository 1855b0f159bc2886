"""Postfix: main.cf, the SQL lookup files, helo access and the status filters.

master.cf is in ``postfix_master``; docs/mailserver.md explains each choice.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

from domains import sql_interface
from mailserver.render.config import DbConnection, MailServerConfig, milter_address
from mailserver.render.postfix_master import postfix_master_cf
from mailserver.render.text import (
    GENERATED,
    RenderError,
    comment_lines,
    config_lines,
    safe_value,
)

# The SQL interface of docs/sql-interface.md, whose exact strings live in
# domains/sql_interface.py: one lookup file per query.
POSTFIX_QUERIES: dict[str, str] = {
    "virtual-mailbox-domains": sql_interface.POSTFIX_QUERIES["virtual_mailbox_domains"],
    "virtual-mailbox-maps": sql_interface.POSTFIX_QUERIES["virtual_mailbox_maps"],
    "virtual-alias-maps": sql_interface.POSTFIX_QUERIES["virtual_alias_maps"],
    "sender-login-maps": sql_interface.POSTFIX_QUERIES["smtpd_sender_login_maps"],
    "recipient-access": sql_interface.POSTFIX_QUERIES["recipient_access"],
    "sender-access": sql_interface.POSTFIX_QUERIES["unauthenticated_sender_access"],
    # Relay hosts (docs/relay-hosts.md): sender_dependent_default_transport_maps.
    "sender-relay": sql_interface.POSTFIX_RELAY_QUERIES["sender_relay"],
    "default-relay": sql_interface.POSTFIX_RELAY_QUERIES["default_relay"],
}


# Files that hold the database password: readable by the daemon's group only.
POSTFIX_CREDENTIALS_GROUP = "postfix"


def lookup_file(name: str, engine: str) -> str:
    return f"{engine}-{name}.cf"


def direct_lookup_map(name: str, engine: str) -> str:
    """The table reference for a process that opens its own connection."""
    return f"{engine}:${{config_directory}}/{lookup_file(name, engine)}"


def lookup_map(name: str, engine: str) -> str:
    """The main.cf table reference; proxymap shares one connection per table."""
    return f"proxy:{direct_lookup_map(name, engine)}"


def render_postfix(config: MailServerConfig) -> dict[str, str]:
    """main.cf, master.cf, one lookup file per SQL query, helo and transports."""
    engine = config.postfix_db.engine
    files = {
        "main.cf": _postfix_main_cf(config),
        "master.cf": postfix_master_cf(config),
        "helo_access": comment_lines(GENERATED)
        + comment_lines("Only an impostor greets with this server's own name.")
        + f"{safe_value(config.hostname, 'hostname')} REJECT 5.7.1 You are not me\n",
        "lmtp_status_filter": comment_lines(GENERATED)
        + comment_lines(
            "Postfix accepted these recipients after its own lookup, so a\n"
            "Dovecot \"user doesn't exist\" means Dovecot's lookup failed (e.g. it\n"
            "was queued during a database outage): retry, never bounce."
        )
        + "/^5(\\.1\\.1 .*)$/ 4$1\n",
        "relay_status_filter": comment_lines(GENERATED)
        + comment_lines(
            "A relay host that refuses on policy grounds (5.7.x: no login, wrong\n"
            "login, relaying denied) is misconfigured here, not refusing the\n"
            "message: keep it queued until the relay is fixed, never bounce."
        )
        + "/^5(\\.7\\.[0-9]+ .*)$/ 4$1\n",
        "transport": comment_lines(GENERATED)
        + "".join(
            f"{safe_value(domain, 'transport domain')} "
            f"{safe_value(target, 'transport')}\n"
            for domain, target in sorted(config.transports.items())
        ),
    }
    for name, query in POSTFIX_QUERIES.items():
        files[lookup_file(name, engine)] = _postfix_lookup(config.postfix_db, query)
    return files


def _postfix_lookup(db: DbConnection, query: str) -> str:
    header = comment_lines(GENERATED)
    if db.engine == "sqlite":
        return header + config_lines([("dbpath", db.name), ("query", query)])
    if db.host.startswith("/") or ":" in db.host:
        # A socket directory or an IPv6 address: only a postgresql:// URI
        # gives either with its port (pgsql_table(5)). Postfix hands the
        # historical "unix:DIR" to libpq without a port (only 5432 works), and
        # "inet:[ADDR]:PORT" with the brackets, which libpq cannot resolve.
        hosts = _pgsql_uri(db)
    else:
        hosts = f"inet:{db.host}:{db.port}"
    # With a URI, Postfix takes the database and login from it, but 3.7 still
    # refuses a file without dbname.
    pairs = [("hosts", hosts), ("dbname", db.name), ("user", db.user)]
    if db.password:
        pairs.append(("password", db.password))
    pairs.append(("query", query))
    return header + config_lines(pairs)


def _pgsql_uri(db: DbConnection) -> str:
    """``postgresql://USER:PASSWORD@HOST:PORT/DBNAME`` for Postfix's ``hosts``.

    Everything is percent-encoded (libpq decodes it), so the URI has no comma
    or space, which would split it into several hosts.
    """
    login = quote(db.user, safe="")
    if db.password:
        login += ":" + quote(db.password, safe="")
    if login:
        login += "@"
    dbname = quote(db.name, safe="")
    port = quote(db.port, safe="")
    if db.host.startswith("/"):
        host = quote(db.host, safe="/")
        return f"postgresql://{login}/{dbname}?host={host}&port={port}"
    return f"postgresql://{login}[{db.host.strip('[]')}]:{port}/{dbname}"


def _postfix_main_cf(config: MailServerConfig) -> str:
    engine = config.postfix_db.engine
    maps = {name: lookup_map(name, engine) for name in POSTFIX_QUERIES}
    # Port 25: anyone may deliver, but only to hosted domains. Relaying needs a
    # login (submission only) or MAILPANEL_MYNETWORKS, empty by default.
    helo = [
        "permit_mynetworks",
        "permit_sasl_authenticated",
        "check_helo_access texthash:${config_directory}/helo_access",
        "reject_invalid_helo_hostname",
    ]
    sender = [
        "reject_non_fqdn_sender",
        "permit_mynetworks",
        # A stranger may not claim to be one of our mailboxes.
        "check_sender_access $mailpanel_sender_access",
    ]
    relay = [
        "permit_mynetworks",
        "permit_sasl_authenticated",
        "reject_unauth_destination",
    ]
    recipient = [
        "reject_non_fqdn_recipient",
        # Disabled mailboxes and aliases, before a catch-all could take them.
        "check_recipient_access $mailpanel_recipient_access",
        "reject_unlisted_recipient",
    ]
    submission_sender = [
        "reject_non_fqdn_sender",
        # Only itself, its aliases and its granted identities (sender_logins).
        "reject_sender_login_mismatch",
        "permit_sasl_authenticated",
        "reject",
    ]
    submission_relay = [
        "check_recipient_access $mailpanel_recipient_access",
        "permit_sasl_authenticated",
        "reject",
    ]
    queue = config.postfix_queue_dir
    pairs: list[tuple[str, object]] = [
        ("compatibility_level", "3.6"),
        ("queue_directory", queue),
        ("data_directory", config.postfix_data_dir),
        ("myhostname", config.hostname),
        ("myorigin", "$myhostname"),
        ("smtpd_banner", "$myhostname ESMTP"),
        ("inet_interfaces", config.inet_interfaces),
        ("inet_protocols", config.inet_protocols),
        ("mynetworks", config.mynetworks),
        ("mynetworks_style", "host"),
        # Nothing is delivered to Unix accounts: every hosted domain is virtual.
        ("mydestination", ""),
        ("local_recipient_maps", ""),
        ("local_transport", "error:5.1.1 local delivery is disabled"),
        ("alias_maps", ""),
        ("alias_database", ""),
        ("relayhost", ""),
        ("biff", "no"),
        ("append_dot_mydomain", "no"),
        ("readme_directory", "no"),
        ("message_size_limit", config.message_size_limit),
        ("mailbox_size_limit", "0"),
        # Sender-specified routing is a relay trick; never rewrite it.
        ("allow_percent_hack", "no"),
        ("swap_bangpath", "no"),
        ("allow_untrusted_routing", "no"),
        ("disable_vrfy_command", "yes"),
        ("smtpd_helo_required", "yes"),
        ("virtual_mailbox_domains", maps["virtual-mailbox-domains"]),
        ("virtual_mailbox_maps", maps["virtual-mailbox-maps"]),
        ("virtual_alias_maps", maps["virtual-alias-maps"]),
        # Mail to an address that expands further is deferred as a whole;
        # the models refuse such a change first (domains.expansion).
        ("virtual_alias_expansion_limit", int(config.alias_expansion_limit)),
        # Every hosted and alias domain is a virtual mailbox domain; aliases
        # are expanded through virtual_alias_maps all the same. The default,
        # $virtual_alias_maps, would have trivial-rewrite query the alias map
        # with the bare domain of every address it resolves.
        ("virtual_alias_domains", ""),
        # Only trivial-rewrite asks virtual_mailbox_domains (it classifies
        # every address it resolves: 2.8 of the 6.8 lookups of a delivered
        # message). Its processes query the view themselves rather than
        # through proxymap, which spares a process hop per lookup; master.cf
        # caps them (MAILPANEL_POSTFIX_REWRITE_PROCESSES), so they hold a
        # fixed number of connections all the same.
        (
            "mailpanel_resolve_domains",
            direct_lookup_map("virtual-mailbox-domains", engine),
        ),
        ("smtpd_sender_login_maps", maps["sender-login-maps"]),
        ("mailpanel_recipient_access", maps["recipient-access"]),
        ("mailpanel_sender_access", maps["sender-access"]),
        ("virtual_transport", "lmtp:unix:private/dovecot-lmtp"),
        (
            "lmtp_delivery_status_filter",
            "regexp:${config_directory}/lmtp_status_filter",
        ),
        ("transport_maps", "texthash:${config_directory}/transport"),
        (
            "proxy_read_maps",
            "$virtual_mailbox_domains $virtual_mailbox_maps $virtual_alias_maps "
            "$smtpd_sender_login_maps $mailpanel_recipient_access "
            "$mailpanel_sender_access $sender_dependent_default_transport_maps",
        ),
        # "REJECT" rows (disabled mailboxes, helo_access) are permanent 550s.
        ("access_map_reject_code", "550"),
        ("smtpd_helo_restrictions", ", ".join(helo)),
        ("smtpd_sender_restrictions", ", ".join(sender)),
        ("smtpd_relay_restrictions", ", ".join(relay)),
        ("smtpd_recipient_restrictions", ", ".join(recipient)),
        ("smtpd_data_restrictions", "reject_unauth_pipelining"),
        ("mailpanel_submission_sender_restrictions", ", ".join(submission_sender)),
        ("mailpanel_submission_relay_restrictions", ", ".join(submission_relay)),
        (
            "mailpanel_submission_client_restrictions",
            "permit_sasl_authenticated, reject",
        ),
        # SASL through Dovecot; switched on for submission services only.
        ("smtpd_sasl_type", "dovecot"),
        ("smtpd_sasl_path", "private/auth"),
        ("smtpd_sasl_auth_enable", "no"),
        ("smtpd_sasl_security_options", "noanonymous, noplaintext"),
        ("smtpd_sasl_tls_security_options", "noanonymous"),
        ("smtpd_tls_auth_only", "yes"),
        ("smtpd_tls_cert_file", config.tls_cert),
        ("smtpd_tls_key_file", config.tls_key),
        ("smtpd_tls_security_level", "may"),
        ("smtpd_tls_protocols", ">=TLSv1.2"),
        ("smtpd_tls_mandatory_protocols", ">=TLSv1.2"),
        ("smtpd_tls_received_header", "yes"),
        ("smtpd_tls_session_cache_database", "btree:${data_directory}/smtpd_scache"),
        ("smtp_tls_security_level", "may"),
        ("smtp_tls_session_cache_database", "btree:${data_directory}/smtp_scache"),
    ]
    if config.postfix_log_file:
        pairs.append(("maillog_file", config.postfix_log_file))
        pairs.append(
            ("maillog_file_prefixes", str(Path(config.postfix_log_file).parent))
        )
    pairs.extend(_postfix_relay_params(config, maps))
    pairs.extend(_postfix_milter_params(config))
    # An extra parameter replaces a rendered one of the same name: main.cf
    # must not define one twice (postconf warns, and apply refuses warnings).
    extra = dict(config.postfix_extra)
    pairs = [(name, extra.pop(name, value)) for name, value in pairs]
    pairs.extend(extra.items())
    return comment_lines(GENERATED) + config_lines(pairs)


def _postfix_milter_params(config: MailServerConfig) -> list[tuple[str, object]]:
    """DKIM signing: rspamd as the milter of mail that leaves from here.

    Submission (and the local smtpd) call it through smtpd_milters in
    master.cf; sendmail(1), Sieve's replies through it, and Postfix's own
    bounces and notices (internal_mail_filter_classes) through
    non_smtpd_milters. Port 25 calls no milter. When rspamd does not answer,
    the message is deferred (4xx, the client or the queue retries): nothing
    leaves unsigned because the signer was down (docs/mailserver.md).
    """
    if not config.signing:
        return []
    return [
        ("mailpanel_signing_milters", milter_address(config).postfix),
        ("non_smtpd_milters", "$mailpanel_signing_milters"),
        ("internal_mail_filter_classes", "bounce, notify"),
        ("milter_default_action", "tempfail"),
        ("milter_protocol", "6"),
    ]


def _postfix_relay_params(
    config: MailServerConfig, maps: Mapping[str, str]
) -> list[tuple[str, object]]:
    """Relay hosts (docs/relay-hosts.md): routes from SQL, secrets from a file.

    A sender's relay (then its domain's, then the default) replaces
    default_transport with ``relay-smtp:[host]:587`` or ``relay-smtps:...``;
    no row means direct delivery. transport_maps still wins over it. SASL is
    switched on only in the two relay services, so a password is never offered
    to any other server; the table is hash:, opened as root before the smtp
    process drops privileges, and read again by new processes after postmap.
    """
    credentials_map = safe_value(config.relay_credentials_map, "relay credentials map")
    if not credentials_map.startswith("/") or " " in credentials_map:
        raise RenderError("MAILPANEL_RELAY_CREDENTIALS_MAP must be an absolute path.")
    return [
        (
            "sender_dependent_default_transport_maps",
            f"{maps['sender-relay']}, {maps['default-relay']}",
        ),
        ("mailpanel_relay_credentials_maps", f"hash:{credentials_map}"),
        ("mailpanel_relay_tls_ca_file", config.relay_tls_ca_file),
        ("mailpanel_relay_tls_protocols", ">=TLSv1.2"),
        # What providers offer; inside TLS only (smtp_tls_security_level secure).
        ("mailpanel_relay_sasl_mechanisms", "plain, login"),
        (
            "mailpanel_relay_status_filter",
            "regexp:${config_directory}/relay_status_filter",
        ),
    ]

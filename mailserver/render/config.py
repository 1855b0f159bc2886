"""Every input of the rendered configuration, resolved from settings once."""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from mailserver.render.text import RenderError, safe_value


@dataclass(frozen=True)
class DbConnection:
    """How Postfix and Dovecot reach the SQL interface.

    ``engine`` is ``pgsql`` or ``sqlite``; for SQLite ``name`` is the file.
    """

    engine: str
    name: str
    host: str = ""
    port: str = ""
    user: str = ""
    password: str = ""


@dataclass(frozen=True)
class MailServerConfig:
    """Every input of the rendered configuration, resolved from settings.

    A dataclass rather than direct ``settings`` reads so that one render is
    consistent and tests can change a field with ``dataclasses.replace``.
    """

    postfix_dir: Path
    dovecot_dir: Path
    postfix_queue_dir: str
    postfix_data_dir: str
    hostname: str
    tls_cert: str
    tls_key: str
    tls_self_signed: bool
    vmail_root: str
    vmail_uid: int
    vmail_gid: int
    message_size_limit: int
    mynetworks: str
    inet_interfaces: str
    inet_protocols: str
    smtp_listen: str
    submission_listen: str
    submissions_listen: str
    transports: Mapping[str, str]
    postfix_log_file: str
    proxymap_processes: int
    rewrite_processes: int
    dovecot_listen: str
    imap_port: int
    imaps_port: int
    pop3_port: int
    pop3s_port: int
    dovecot_base_dir: str
    dovecot_log_path: str
    dovecot_db_connections: int
    allow_plaintext_auth_on_loopback: bool
    postfix_db: DbConnection
    dovecot_db: DbConnection
    # Extra main.cf parameters (e.g. queue timings in tests): each replaces a
    # rendered parameter of the same name, the others are written last.
    postfix_extra: Mapping[str, str] = field(default_factory=dict)
    # "127.0.0.1:PORT": a loopback smtpd that relays for loopback clients, and
    # Dovecot's submission_host (Sieve's vacation replies); empty: sendmail(1).
    local_smtp_listen: str = ""
    # Relay hosts (docs/relay-hosts.md): the root-only password table each mail
    # host's worker writes, and the CAs relay certificates must chain to.
    relay_credentials_map: str = "/etc/mailpanel/relay-credentials"
    relay_tls_ca_file: str = "/etc/ssl/certs/ca-certificates.crt"
    # Postfix's virtual_alias_expansion_limit: the models' limit
    # (MAILPANEL_ALIAS_EXPANSION_LIMIT, domains.expansion), the same number.
    alias_expansion_limit: int = 50
    # DKIM signing (docs/dkim.md): rspamd's private configuration directory,
    # its state (pid file, caches), its log ("" is syslog), and its milter's
    # socket (milter_address()). An empty milter address means no rspamd at
    # all: nothing is signed and Postfix calls no milter.
    rspamd_dir: Path = Path("/etc/mailpanel/rspamd")
    rspamd_state_dir: str = "/var/lib/mailpanel/rspamd"
    rspamd_log_file: str = ""
    rspamd_milter_listen: str = ""

    @property
    def signing(self) -> bool:
        """Whether Postfix hands outgoing mail to rspamd for DKIM signing."""
        return bool(self.rspamd_milter_listen)

    @classmethod
    def from_settings(cls) -> MailServerConfig:
        var_dir = Path(getattr(settings, "VAR_DIR", Path(settings.BASE_DIR) / "var"))
        cert = settings.MAILPANEL_TLS_CERT or str(var_dir / "tls" / "mailserver.crt")
        key = settings.MAILPANEL_TLS_KEY or str(var_dir / "tls" / "mailserver.key")
        db = database_connection()
        return cls(
            postfix_dir=Path(settings.MAILPANEL_POSTFIX_DIR),
            dovecot_dir=Path(settings.MAILPANEL_DOVECOT_DIR),
            postfix_queue_dir=settings.MAILPANEL_POSTFIX_QUEUE_DIR,
            postfix_data_dir=settings.MAILPANEL_POSTFIX_DATA_DIR,
            hostname=settings.MAILPANEL_HOSTNAME or default_hostname(),
            tls_cert=cert,
            tls_key=key,
            tls_self_signed=not settings.MAILPANEL_TLS_CERT,
            vmail_root=settings.MAILPANEL_VMAIL_ROOT.rstrip("/"),
            vmail_uid=settings.MAILPANEL_VMAIL_UID,
            vmail_gid=settings.MAILPANEL_VMAIL_GID,
            message_size_limit=settings.MAILPANEL_MESSAGE_SIZE_LIMIT,
            mynetworks=settings.MAILPANEL_MYNETWORKS,
            inet_interfaces=settings.MAILPANEL_POSTFIX_INET_INTERFACES,
            inet_protocols=settings.MAILPANEL_POSTFIX_INET_PROTOCOLS,
            smtp_listen=str(settings.MAILPANEL_SMTP_LISTEN),
            submission_listen=str(settings.MAILPANEL_SUBMISSION_LISTEN),
            submissions_listen=str(settings.MAILPANEL_SUBMISSIONS_LISTEN),
            transports=dict(settings.MAILPANEL_POSTFIX_TRANSPORTS),
            postfix_log_file=settings.MAILPANEL_POSTFIX_LOG_FILE,
            proxymap_processes=settings.MAILPANEL_POSTFIX_PROXYMAP_PROCESSES,
            rewrite_processes=settings.MAILPANEL_POSTFIX_REWRITE_PROCESSES,
            dovecot_listen=settings.MAILPANEL_DOVECOT_LISTEN,
            imap_port=settings.MAILPANEL_IMAP_PORT,
            imaps_port=settings.MAILPANEL_IMAPS_PORT,
            pop3_port=settings.MAILPANEL_POP3_PORT,
            pop3s_port=settings.MAILPANEL_POP3S_PORT,
            dovecot_base_dir=settings.MAILPANEL_DOVECOT_BASE_DIR,
            dovecot_log_path=settings.MAILPANEL_DOVECOT_LOG_PATH,
            dovecot_db_connections=settings.MAILPANEL_DOVECOT_DB_CONNECTIONS,
            allow_plaintext_auth_on_loopback=(
                settings.MAILPANEL_ALLOW_PLAINTEXT_AUTH_ON_LOOPBACK
            ),
            postfix_db=db,
            dovecot_db=db,
            local_smtp_listen=settings.MAILPANEL_LOCAL_SMTP_LISTEN,
            relay_credentials_map=settings.MAILPANEL_RELAY_CREDENTIALS_MAP,
            relay_tls_ca_file=settings.MAILPANEL_RELAY_TLS_CA_FILE,
            alias_expansion_limit=settings.MAILPANEL_ALIAS_EXPANSION_LIMIT,
            rspamd_dir=Path(settings.MAILPANEL_RSPAMD_DIR),
            rspamd_state_dir=settings.MAILPANEL_RSPAMD_STATE_DIR,
            rspamd_log_file=settings.MAILPANEL_RSPAMD_LOG_FILE,
            rspamd_milter_listen=settings.MAILPANEL_RSPAMD_MILTER_LISTEN,
        )


def default_hostname() -> str:
    """The machine's FQDN; Postfix needs a dot in it to derive ``mydomain``."""
    name = socket.getfqdn()
    return name if "." in name else f"{name}.localdomain"


def database_connection(db: Mapping | None = None) -> DbConnection:
    """The Django database (``DATABASES["default"]`` unless given) as Postfix
    and Dovecot should reach it.

    ``MAILPANEL_MAIL_DB_*`` override host, port and credentials so that the
    mail server can use a read-only role or a pooler (docs/mailserver.md).
    """
    db = settings.DATABASES["default"] if db is None else db
    engine = db["ENGINE"]
    if "postgresql" in engine:
        return DbConnection(
            engine="pgsql",
            name=str(db["NAME"]),
            host=settings.MAILPANEL_MAIL_DB_HOST or db.get("HOST") or "localhost",
            port=str(settings.MAILPANEL_MAIL_DB_PORT or db.get("PORT") or "5432"),
            user=settings.MAILPANEL_MAIL_DB_USER or db.get("USER") or "",
            password=settings.MAILPANEL_MAIL_DB_PASSWORD or db.get("PASSWORD") or "",
        )
    if "sqlite3" in engine:
        return DbConnection(engine="sqlite", name=str(Path(db["NAME"]).resolve()))
    raise RenderError(
        f"Postfix and Dovecot can read PostgreSQL or SQLite, not {engine}."
    )


@dataclass(frozen=True)
class MilterAddress:
    """Where rspamd's milter listens, as Postfix and as rspamd write it."""

    postfix: str  # unix:/var/spool/postfix/private/rspamd-milter, inet:127.0.0.1:11332
    rspamd: str  # bind_socket: a path with its owner and mode, or HOST:PORT


def milter_address(config: MailServerConfig) -> MilterAddress:
    """``unix:PATH`` (relative: in Postfix's queue directory) or a loopback
    ``inet:127.x.y.z:PORT`` / ``inet:[::1]:PORT``.

    Whoever reaches this socket can have mail signed for any hosted domain:
    the unix socket is for rspamd and the postfix group only, and a TCP one
    is never offered beyond this machine.
    """
    value = safe_value(config.rspamd_milter_listen, "rspamd milter address")
    kind, _, where = value.partition(":")
    if kind == "unix" and re.fullmatch(r"[\w./-]+", where) and ".." not in where:
        path = where if where.startswith("/") else f"{config.postfix_queue_dir}/{where}"
        return MilterAddress(
            postfix=f"unix:{path}",
            rspamd=f"{path} mode=0660 owner=_rspamd group=postfix",
        )
    match = re.fullmatch(r"(127(?:\.\d{1,3}){3}|\[::1\]):(\d{1,5})", where)
    if kind == "inet" and match and 0 < int(match[2]) < 65536:
        return MilterAddress(postfix=value, rspamd=where)
    raise RenderError(
        "MAILPANEL_RSPAMD_MILTER_LISTEN must be unix:PATH (relative to Postfix's "
        "queue directory) or a loopback inet:127.0.0.1:PORT or inet:[::1]:PORT, "
        f"not {value!r}."
    )


def local_smtp_listen(config: MailServerConfig) -> str:
    """``127.x.y.z:PORT`` only: that smtpd relays for whoever reaches it."""
    value = safe_value(config.local_smtp_listen, "local SMTP listen address")
    if not re.fullmatch(r"127(\.\d{1,3}){3}:\d{1,5}", value):
        raise RenderError(
            "MAILPANEL_LOCAL_SMTP_LISTEN must be a loopback IPv4 address and "
            f"port (127.0.0.1:10025), not {value!r}."
        )
    return value

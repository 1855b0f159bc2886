"""Dovecot: dovecot.conf, mailpanel.conf and the SQL passdb/userdb file."""

from __future__ import annotations

import re

from domains import sql_interface
from domains.addresses import dovecot_username_chars
from mailserver.render.config import DbConnection, MailServerConfig, local_smtp_listen
from mailserver.render.text import (
    GENERATED,
    RenderError,
    comment_lines,
    config_lines,
    libpq_value,
    safe_value,
)

DOVECOT_PASSWORD_QUERY = sql_interface.DOVECOT_PASSWORD_QUERY
DOVECOT_ITERATE_QUERY = sql_interface.DOVECOT_ITERATE_QUERY

# Files that hold the database password: readable by the daemon's group only.
DOVECOT_CREDENTIALS_GROUP = "dovecot"
DOVECOT_SQL_FILE = "mailpanel-sql.conf.ext"
DOVECOT_MAIN_FILE = "mailpanel.conf"


def render_dovecot(config: MailServerConfig) -> dict[str, str]:
    """dovecot.conf (includes only), mailpanel.conf and the SQL file.

    dovecot.conf includes nothing from Debian's conf.d: its 10-auth.conf
    enables PAM logins for system users, which a mail host must not offer.
    Local additions go into local.conf, which is included last and never
    written by mailpanel.
    """
    return {
        "dovecot.conf": comment_lines(GENERATED)
        + f"!include {DOVECOT_MAIN_FILE}\n!include_try local.conf\n",
        DOVECOT_MAIN_FILE: _dovecot_main(config),
        DOVECOT_SQL_FILE: _dovecot_sql(
            config.dovecot_db, config.dovecot_db_connections
        ),
    }


# The vmail root goes into mail_home, where Dovecot expands %-variables: a
# plain absolute path only.
_PLAIN_PATH = re.compile(r"/[A-Za-z0-9._/+-]*")


def _dovecot_home(vmail_root: str) -> str:
    """mail_home: this host's vmail root, then the userdb row's maildir."""
    if not _PLAIN_PATH.fullmatch(vmail_root):
        raise RenderError(
            f"The vmail root {vmail_root!r} must be an absolute path of letters, "
            "digits and . _ / + - only."
        )
    return f"{vmail_root.rstrip('/')}/%{{userdb:mailpanel_maildir}}"


def _dovecot_sql(db: DbConnection, connections: int) -> str:
    if db.engine == "sqlite":
        connect = db.name
    else:
        # maxconns bounds Dovecot's SQL pool (the auth process does the lookups).
        parts = [
            ("maxconns", str(int(connections))),
            ("host", db.host),
            ("port", db.port),
            ("dbname", db.name),
        ]
        if db.user:
            parts.append(("user", db.user))
        if db.password:
            parts.append(("password", db.password))
        connect = " ".join(f"{key}={libpq_value(value)}" for key, value in parts)
    return comment_lines(GENERATED) + config_lines(
        [
            ("driver", db.engine),
            ("connect", connect),
            ("password_query", DOVECOT_PASSWORD_QUERY),
            ("user_query", sql_interface.DOVECOT_USER_QUERY),
            ("iterate_query", DOVECOT_ITERATE_QUERY),
        ]
    )


def _dovecot_main(config: MailServerConfig) -> str:
    queue = config.postfix_queue_dir.rstrip("/")
    sql_file = config.dovecot_dir / DOVECOT_SQL_FILE
    top: list[tuple[str, object]] = [
        ("protocols", "imap pop3 lmtp"),
        ("listen", config.dovecot_listen),
    ]
    if config.dovecot_base_dir:
        top.append(("base_dir", config.dovecot_base_dir))
    top += [
        ("log_path", config.dovecot_log_path),
        ("auth_verbose", "yes"),
        # TLS for every login; plaintext mechanisms only inside TLS.
        ("ssl", "required"),
        ("ssl_cert", f"<{config.tls_cert}"),
        ("ssl_key", f"<{config.tls_key}"),
        ("ssl_min_protocol", "TLSv1.2"),
        ("ssl_prefer_server_ciphers", "yes"),
        ("disable_plaintext_auth", "yes"),
        ("auth_mechanisms", "plain login"),
        ("auth_username_format", "%Lu"),
        # Written from the panel's local-part alphabet (docs/addresses.md),
        # so the two cannot drift: Dovecot's default today, said explicitly.
        ("auth_username_chars", dovecot_username_chars()),
        # No cache: a password change or a disabled service applies at the next
        # login, and a database outage refuses logins instead of serving stale
        # answers. mailserver.services.dovecot_flush_auth_cache() exists for
        # installations that switch it on in local.conf.
        ("auth_cache_size", "0"),
        # Mail is only ever stored as the vmail user.
        ("first_valid_uid", config.vmail_uid),
        ("last_valid_uid", config.vmail_uid),
        ("first_valid_gid", config.vmail_gid),
        ("last_valid_gid", config.vmail_gid),
        # Not from the userdb rows, which are the same for every mail host.
        ("mail_uid", config.vmail_uid),
        ("mail_gid", config.vmail_gid),
        # The userdb rows hold the maildir relative to the vmail root, the
        # same for every host; this host's root goes in front here.
        ("mail_home", _dovecot_home(config.vmail_root)),
        ("mail_location", "maildir:~/Maildir"),
        ("mail_plugins", "$mail_plugins quota"),
        ("lmtp_rcpt_check_quota", "yes"),
        ("postmaster_address", f"postmaster@{config.hostname}"),
        ("hostname", config.hostname),
    ]
    if config.local_smtp_listen:
        # Sieve's replies go to Postfix's loopback smtpd instead of sendmail(1).
        top.append(("submission_host", local_smtp_listen(config)))
    sql_args = safe_value(sql_file, "Dovecot directory")
    text = comment_lines(GENERATED) + config_lines(top)
    text += f"""
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Drafts {{
    special_use = \\Drafts
    auto = subscribe
  }}
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Junk {{
    special_use = \\Junk
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = subscribe
  }}
}}

# SQL lookups run asynchronously in the auth process. During a database
# outage a login fails at once when its query breaks, or after the pool's
# 60 s queue timeout while Dovecot reconnects: always a temporary failure.
passdb {{
  driver = sql
  args = {sql_args}
}}
userdb {{
  driver = sql
  args = {sql_args}
}}

plugin {{
  # Counted, not scanned: quota_rule (*:bytes=N, 0 = no limit) comes from userdb.
  quota = count:User quota
  quota_vsizes = yes
  quota_rule = *:bytes=0
  # Sieve at delivery (Pigeonhole), in the layout of accounts/sieve_files.py:
  # scripts in ~/sieve, the active one linked as ~/.dovecot.sieve. Vacation
  # replies go out with the null envelope sender (RFC 3834).
  sieve = file:~/sieve;active=~/.dovecot.sieve
  sieve_vacation_send_from_recipient = no
}}

protocol imap {{
  mail_plugins = $mail_plugins imap_quota
}}

protocol lmtp {{
  mail_plugins = $mail_plugins sieve
}}

service imap-login {{
  inet_listener imap {{
    port = {int(config.imap_port)}
  }}
  inet_listener imaps {{
    port = {int(config.imaps_port)}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {int(config.pop3_port)}
  }}
  inet_listener pop3s {{
    port = {int(config.pop3s_port)}
    ssl = yes
  }}
}}
# Postfix delivers over LMTP and authenticates submission through these
# sockets in its queue directory (Postfix services run without chroot).
service lmtp {{
  unix_listener {safe_value(queue, "queue directory")}/private/dovecot-lmtp {{
    mode = 0600
    user = postfix
    group = postfix
  }}
}}
service auth {{
  unix_listener {queue}/private/auth {{
    mode = 0660
    user = postfix
    group = postfix
  }}
}}
"""
    if config.allow_plaintext_auth_on_loopback:
        text += """
# TEST SETTING (MAILPANEL_ALLOW_PLAINTEXT_AUTH_ON_LOOPBACK): clients on
# 127.0.0.1 and ::1 may log in without TLS. Never enable it in production.
remote 127.0.0.1 {
  disable_plaintext_auth = no
  ssl = yes
}
remote ::1 {
  disable_plaintext_auth = no
  ssl = yes
}
"""
    return text

"""The Postfix and Dovecot configuration, built from settings by pure functions.

``render_postfix(config)``, ``render_dovecot(config)`` and
``render_rspamd(config, keys)`` return
``{relative path: content}`` and touch neither the disk, the database nor a
daemon: ``mailserver.services`` decides where the files go, validates them and
swaps them in. Keeping rendering pure is what lets tests diff it and lets
``apply`` validate a complete configuration before anything live changes.

Everything security-relevant is decided here, not in settings: there is no
setting that opens relaying beyond ``MAILPANEL_MYNETWORKS`` (empty by default)
and no setting that allows plaintext logins other than on loopback for tests.
docs/mailserver.md explains each choice; docs/sql-interface.md the queries.

The package: ``config`` (MailServerConfig, from settings), ``postfix`` and
``postfix_master`` (main.cf, lookup files; master.cf), ``dovecot``,
``rspamd`` (DKIM signing, docs/dkim.md) and ``text`` (quoting values into
files).
"""

from mailserver.render.config import (
    DbConnection,
    MailServerConfig,
    database_connection,
)
from mailserver.render.dovecot import (
    DOVECOT_CREDENTIALS_GROUP,
    DOVECOT_SQL_FILE,
    render_dovecot,
)
from mailserver.render.postfix import (
    POSTFIX_CREDENTIALS_GROUP,
    POSTFIX_QUERIES,
    lookup_file,
    render_postfix,
)
from mailserver.render.rspamd import KEY_DIR as RSPAMD_KEY_DIR
from mailserver.render.rspamd import RSPAMD_CONF, render_rspamd
from mailserver.render.text import RenderError

__all__ = [
    "DOVECOT_CREDENTIALS_GROUP",
    "DOVECOT_SQL_FILE",
    "POSTFIX_CREDENTIALS_GROUP",
    "POSTFIX_QUERIES",
    "RSPAMD_CONF",
    "RSPAMD_KEY_DIR",
    "DbConnection",
    "MailServerConfig",
    "RenderError",
    "database_connection",
    "lookup_file",
    "render_dovecot",
    "render_postfix",
    "render_rspamd",
]

"""Fixtures of the mail server tests: the running instance (``mail``) and, for
the rendering tests, a configuration in throw-away directories."""

import os
import shutil

import pytest
from django.test import override_settings

from mailserver.render import MailServerConfig
from tests.conftest import unavailable


@pytest.fixture
def mail(mailserver, transactional_db):
    """The running mail server, for a test whose rows are really committed.

    Postfix and Dovecot read the database from outside the test's connection,
    so the usual rolled-back test transaction would be invisible to them.
    """
    with override_settings(**mailserver.settings):
        yield mailserver


@pytest.fixture
def tls_files(tmp_path):
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert.write_text("cert")
    key.write_text("key")
    return cert, key


@pytest.fixture
def config(settings, tmp_path, tls_files) -> MailServerConfig:
    settings.MAILPANEL_HOSTNAME = "mail.example.test"
    settings.MAILPANEL_TLS_CERT = str(tls_files[0])
    settings.MAILPANEL_TLS_KEY = str(tls_files[1])
    settings.MAILPANEL_POSTFIX_DIR = str(tmp_path / "etc" / "postfix")
    settings.MAILPANEL_DOVECOT_DIR = str(tmp_path / "etc" / "dovecot")
    settings.MAILPANEL_POSTFIX_QUEUE_DIR = str(tmp_path / "queue")
    settings.MAILPANEL_POSTFIX_DATA_DIR = str(tmp_path / "data")
    settings.MAILPANEL_RSPAMD_DIR = str(tmp_path / "etc" / "rspamd")
    settings.MAILPANEL_RSPAMD_STATE_DIR = str(tmp_path / "rspamd-state")
    return MailServerConfig.from_settings()


@pytest.fixture
def daemon_tools():
    for name in ("postfix", "doveconf", "openssl", "rspamadm"):
        if shutil.which(name) is None:
            unavailable(f"{name} is not installed (scripts/mailserver-install.sh)")
    if os.geteuid() != 0:
        unavailable("postfix check runs as root")

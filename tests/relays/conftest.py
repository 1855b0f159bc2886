"""Fixtures for the relay tests: an encryption key, the provider's relay, and
the session's mail server re-applied with the relay settings."""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import override_settings

from relays.models import RelayHost
from tests.conftest import unavailable

# A fixed test key: never a real one.
TEST_KEY = "9zQ0iK5m3tLk2JvVdE4n7bXh1cR6yWqUaPsFgT8oYlM="


@pytest.fixture(autouse=True)
def postfix_dir(settings, tmp_path_factory) -> Path:
    # postmap needs a main.cf to start; the tests must not depend on the
    # machine's /etc/postfix having one (a fresh Debian install has none).
    directory = tmp_path_factory.mktemp("postfix-etc")
    (directory / "main.cf").write_text("")
    settings.MAILPANEL_POSTFIX_DIR = str(directory)
    return directory


@pytest.fixture(autouse=True)
def encryption_key(settings):
    settings.MAILPANEL_SECRET_ENCRYPTION_KEY = TEST_KEY
    return TEST_KEY


@pytest.fixture(scope="session")
def provider() -> Iterator:
    from tests.relays import provider as relay_provider

    missing = [
        n for n in ("postfix", "dovecot", "doveadm", "openssl") if not shutil.which(n)
    ]
    if missing:
        unavailable(
            f"{', '.join(missing)} not installed (scripts/mailserver-install.sh)"
        )
    if os.geteuid() != 0:
        unavailable("the provider's Postfix and Dovecot are started as root")
    workdir = Path(tempfile.mkdtemp(prefix="mailpanel-relay-"))
    workdir.chmod(0o755)
    try:
        running = relay_provider.start(workdir)
    except RuntimeError as exc:
        pytest.fail(f"the provider's relay did not start: {exc}", pytrace=False)
    try:
        yield running
    finally:
        relay_provider.stop(running)
        if not os.environ.get("MAILPANEL_KEEP_E2E_DIR"):
            shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def relay_mailserver(mailserver, provider) -> Iterator:
    """The session's Postfix, re-applied to trust the test CA and to use a
    credentials table in its own directory; "the internet" (default_transport,
    i.e. direct delivery) is the session's sink. Put back afterwards."""
    from mailserver.services import mailserver_apply

    credentials = mailserver.workdir / "relay" / "credentials"
    original = mailserver.config
    config = dataclasses.replace(
        original,
        relay_credentials_map=str(credentials),
        relay_tls_ca_file=str(provider.ca_file),
        postfix_extra={
            **original.postfix_extra,
            "default_transport": f"smtp:[127.0.0.1]:{mailserver.sink.port}",
        },
    )
    # No DKIM keys: the relay tests sign nothing (tests/mailserver/test_e2e_dkim).
    mailserver_apply(config, reload=True, keys=[])
    try:
        yield dataclasses.replace(mailserver, config=config)
    finally:
        mailserver_apply(original, reload=True, keys=[])


@pytest.fixture
def relay_mail(relay_mailserver, transactional_db, provider) -> Iterator:
    """The running mail server for a test whose rows are really committed
    (Postfix reads them over its own connection), with the relay settings
    the workers use."""
    with override_settings(
        **relay_mailserver.settings,
        MAILPANEL_RELAY_CREDENTIALS_MAP=relay_mailserver.config.relay_credentials_map,
        MAILPANEL_RELAY_TLS_CA_FILE=str(provider.ca_file),
    ):
        yield relay_mailserver


def make_relay(**fields) -> RelayHost:
    password = fields.pop("password", "Relay-Pass-1")
    relay = RelayHost(**fields)
    relay.set_password(password)
    relay.full_clean()
    relay.save()
    return relay

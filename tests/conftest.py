"""Shared fixtures for tests that need real services (Postfix, Dovecot).

``mailserver`` renders the configuration with ``mailserver.services`` into a
fresh temporary directory, starts a private Postfix, Dovecot and rspamd (the
DKIM signer, Postfix's milter) on kernel-chosen loopback ports once per
session and stops them at the end. The machine's own /etc/postfix,
/etc/dovecot, /etc/rspamd and ports 25/143/11332/... are never used.

In CI (``CI=true``) a missing binary or service fails the test; elsewhere it is
skipped with the reason.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

E2E_HOSTNAME = "mail.mailpanel.test"
# The "external" domain: transport_maps sends it to the test's SMTP sink.
SINK_DOMAIN = "sink.test"
REQUIRED_BINARIES = (
    "postfix",
    "postconf",
    "dovecot",
    "doveconf",
    "doveadm",
    "openssl",
    "rspamd",
    "rspamadm",
)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    """Fail in CI, skip elsewhere: CI must never pass by skipping e2e tests."""
    if in_ci():
        pytest.fail(f"CI requires it: {reason}", pytrace=False)
    pytest.skip(reason)


def _wait_for_port(port: int, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", port), timeout=1),
        ):
            return True
        time.sleep(0.1)
    return False


@dataclass
class MailServer:
    """What the e2e tests need to know about the running instance."""

    workdir: Path
    config: object
    smtp_port: int
    submission_port: int
    submissions_port: int
    imap_port: int
    imaps_port: int
    pop3_port: int
    pop3s_port: int
    vmail_root: Path
    sink: object
    postfix_link: object
    dovecot_link: object
    # The settings the instance was rendered with; tests that create data run
    # under them (e.g. MAILPANEL_VMAIL_ROOT goes into the lookup rows).
    settings: dict

    @property
    def dovecot_conf(self) -> Path:
        return self.workdir / "dovecot" / "dovecot.conf"

    def start_rspamd(self) -> None:
        from mailserver.rspamd import rspamd_start

        rspamd_start(self.config, self.workdir / "start.log")

    def stop_rspamd(self) -> None:
        from mailserver.rspamd import rspamd_stop

        rspamd_stop(self.config)

    def logs(self) -> str:
        parts = []
        for name in ("postfix.log", "dovecot.log", "rspamd.log"):
            path = self.workdir / name
            if path.exists():
                parts.append(f"--- {name}\n" + path.read_text()[-6000:])
        return "\n".join(parts)

    def postqueue(self) -> str:
        result = subprocess.run(
            ["postqueue", "-c", str(self.workdir / "postfix"), "-p"],
            capture_output=True,
            text=True,
            check=False,
        )
        return result.stdout + result.stderr


@pytest.fixture(scope="session")
def mailserver(django_db_setup, django_db_blocker) -> Iterator[MailServer]:
    from django.db import connection
    from django.test import override_settings

    from tests.mailserver.support import DbLink, SmtpSink, free_port

    missing = [name for name in REQUIRED_BINARIES if shutil.which(name) is None]
    if missing:
        unavailable(
            f"{', '.join(missing)} not installed (scripts/mailserver-install.sh)"
        )
    if os.geteuid() != 0:
        unavailable("Postfix and Dovecot are started as root")
    if connection.vendor != "postgresql":
        unavailable("the e2e tests run against PostgreSQL (DATABASE_URL)")

    from mailserver.render import MailServerConfig
    from mailserver.rspamd import rspamd_stop
    from mailserver.services import MailServerError, mailserver_apply

    # Not pytest's tmp_path: that is 0700, and the postfix user, Dovecot's
    # vmail uid and dovenull must all reach into this directory.
    workdir = Path(tempfile.mkdtemp(prefix="mailpanel-e2e-"))
    workdir.chmod(0o755)
    vmail_root = workdir / "vmail"
    vmail_root.mkdir()
    db = connection.settings_dict
    postfix_link = DbLink(db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432))
    dovecot_link = DbLink(db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432))
    sink = SmtpSink()
    controller = sink.start()
    ports = {name: free_port() for name in ("smtp", "sub", "subs", "imap", "imaps")}
    ports.update({name: free_port() for name in ("pop3", "pop3s", "local")})
    test_settings = dict(
        MAILPANEL_VMAIL_ROOT=str(vmail_root),
        MAILPANEL_POSTFIX_DIR=str(workdir / "postfix"),
        MAILPANEL_DOVECOT_DIR=str(workdir / "dovecot"),
        MAILPANEL_POSTFIX_QUEUE_DIR=str(workdir / "queue"),
        MAILPANEL_POSTFIX_DATA_DIR=str(workdir / "data"),
        MAILPANEL_HOSTNAME=E2E_HOSTNAME,
        MAILPANEL_POSTFIX_INET_INTERFACES="127.0.0.1",
        MAILPANEL_POSTFIX_INET_PROTOCOLS="ipv4",
        MAILPANEL_SMTP_LISTEN=f"127.0.0.1:{ports['smtp']}",
        MAILPANEL_SUBMISSION_LISTEN=f"127.0.0.1:{ports['sub']}",
        MAILPANEL_SUBMISSIONS_LISTEN=f"127.0.0.1:{ports['subs']}",
        # Dovecot's Sieve replies reach this Postfix, not the machine's sendmail.
        MAILPANEL_LOCAL_SMTP_LISTEN=f"127.0.0.1:{ports['local']}",
        # Mail for the outside world, including notices to postmaster@ the
        # server's own name, ends in the sink: the tests never use DNS.
        MAILPANEL_POSTFIX_TRANSPORTS={
            SINK_DOMAIN: f"smtp:[127.0.0.1]:{sink.port}",
            E2E_HOSTNAME: f"smtp:[127.0.0.1]:{sink.port}",
        },
        MAILPANEL_POSTFIX_LOG_FILE=str(workdir / "postfix.log"),
        MAILPANEL_DOVECOT_LISTEN="127.0.0.1",
        MAILPANEL_IMAP_PORT=ports["imap"],
        MAILPANEL_IMAPS_PORT=ports["imaps"],
        MAILPANEL_POP3_PORT=ports["pop3"],
        MAILPANEL_POP3S_PORT=ports["pop3s"],
        MAILPANEL_DOVECOT_BASE_DIR=str(workdir / "run"),
        MAILPANEL_DOVECOT_LOG_PATH=str(workdir / "dovecot.log"),
        MAILPANEL_ALLOW_PLAINTEXT_AUTH_ON_LOOPBACK=True,
        MAILPANEL_RSPAMD_DIR=str(workdir / "rspamd"),
        MAILPANEL_RSPAMD_STATE_DIR=str(workdir / "rspamd-state"),
        MAILPANEL_RSPAMD_LOG_FILE=str(workdir / "rspamd.log"),
        # The default: a socket in Postfix's (here private) queue directory.
        MAILPANEL_RSPAMD_MILTER_LISTEN="unix:private/rspamd-milter",
    )
    # Only while rendering: other tests must keep the production defaults.
    overrides = override_settings(**test_settings)
    overrides.enable()
    postfix_dir = workdir / "postfix"
    dovecot_conf = workdir / "dovecot" / "dovecot.conf"
    config = None
    try:
        config = MailServerConfig.from_settings()
        database = dataclasses.replace(config.postfix_db, host="127.0.0.1")
        config = dataclasses.replace(
            config,
            # Each daemon reaches the database through its own cuttable link.
            postfix_db=dataclasses.replace(database, port=str(postfix_link.port)),
            dovecot_db=dataclasses.replace(database, port=str(dovecot_link.port)),
            # Retry deferred mail within seconds instead of Postfix's minutes.
            postfix_extra={
                "queue_run_delay": "1s",
                "minimal_backoff_time": "1s",
                "maximal_backoff_time": "2s",
            },
        )
        try:
            # No DKIM keys yet: the tests that sign apply theirs.
            config = mailserver_apply(config, reload=False, keys=[])
        except MailServerError as exc:
            pytest.fail(f"mailserver apply failed: {exc}", pytrace=False)
        finally:
            overrides.disable()
        os.chown(vmail_root, config.vmail_uid, config.vmail_gid)
        for args in (
            ["postfix", "-c", str(postfix_dir), "start"],
            ["dovecot", "-c", str(dovecot_conf)],
        ):
            # Not a pipe: the daemons inherit it and would keep run() waiting.
            with open(workdir / "start.log", "a+") as output:
                result = subprocess.run(
                    args, stdout=output, stderr=output, timeout=60, check=False
                )
            if result.returncode != 0:
                pytest.fail(
                    f"{' '.join(args)} failed: {(workdir / 'start.log').read_text()}",
                    pytrace=False,
                )
        server = MailServer(
            workdir=workdir,
            config=config,
            smtp_port=ports["smtp"],
            submission_port=ports["sub"],
            submissions_port=ports["subs"],
            imap_port=ports["imap"],
            imaps_port=ports["imaps"],
            pop3_port=ports["pop3"],
            pop3s_port=ports["pop3s"],
            vmail_root=vmail_root,
            sink=sink,
            postfix_link=postfix_link,
            dovecot_link=dovecot_link,
            settings=test_settings,
        )
        # The signer first: submission defers every message while it is down.
        server.start_rspamd()
        for port in ports.values():
            if not _wait_for_port(port):
                pytest.fail(f"nothing listens on {port}\n{server.logs()}")
        yield server
    finally:
        if config is not None:
            rspamd_stop(config)
        subprocess.run(
            ["doveadm", "-c", str(dovecot_conf), "stop"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        subprocess.run(
            ["postfix", "-c", str(postfix_dir), "stop"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        controller.stop()
        postfix_link.close()
        dovecot_link.close()
        if not os.environ.get("MAILPANEL_KEEP_E2E_DIR"):
            shutil.rmtree(workdir, ignore_errors=True)

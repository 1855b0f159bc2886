"""Work on relay hosts that leaves the database: the credentials table that
Postfix reads, and "Test this relay".

Routes need no work here: Postfix reads them from SQL at the next message.
Passwords cannot go that way (Postfix needs them in plain text, and the
database holds them encrypted), so each mail host's worker decrypts them and
writes a root-only ``hash:`` table with postmap: ``relay_credentials_write()``.
Postfix's smtp processes notice the new table and reopen it, so no reload is
needed (docs/relay-hosts.md).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import smtplib
import socket
import ssl
import subprocess
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from domains.crypto import SecretError
from relays.models import RelayHost

logger = logging.getLogger(__name__)

POSTMAP_TIMEOUT = 60


class RelayError(RuntimeError):
    """The credentials table could not be written; the message is for people."""


# --- the credentials table -----------------------------------------------------


@dataclass(frozen=True)
class CredentialsWritten:
    path: Path
    relays: list[str]
    failed: dict[str, str] = field(default_factory=dict)


def relay_credentials_write(*, path: str | Path | None = None) -> CredentialsWritten:
    """Write ``[host]:port user:password`` for every relay into PATH.db.

    Only the ``hash:`` database is written (postmap reads the entries from a
    pipe), mode 0600 and owned by root: the smtp client opens it as root
    before it drops privileges. It is built under a temporary name and
    renamed over the old one, so Postfix never reads half a table, and the
    changed file makes running smtp processes restart with the new one. A
    relay whose password cannot be decrypted is left out (and reported):
    mail through it stays deferred rather than going out without a login.
    """
    target = Path(path or settings.MAILPANEL_RELAY_CREDENTIALS_MAP)
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    lines: list[str] = []
    written: list[str] = []
    failed: dict[str, str] = {}
    for relay in RelayHost.objects.order_by("pk"):
        try:
            password = relay.get_password()
        except SecretError as exc:
            failed[relay.name] = str(exc)
            logger.error("Relay %s left out of the credentials: %s", relay.name, exc)
            continue
        lines.append(f"{relay.nexthop} {relay.username}:{password}\n")
        written.append(relay.name)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}")
    tmp_db = Path(f"{tmp}.db")
    old_umask = os.umask(0o077)
    try:
        try:
            result = subprocess.run(
                # -c: the host's own Postfix configuration, not whatever
                # /etc/postfix holds (it may have no main.cf at all).
                ["postmap", "-c", settings.MAILPANEL_POSTFIX_DIR, "-i", f"hash:{tmp}"],
                input="".join(lines),
                capture_output=True,
                text=True,
                timeout=POSTMAP_TIMEOUT,
                check=False,
            )
        except FileNotFoundError:
            raise RelayError("postmap is not installed (Postfix).") from None
        except subprocess.TimeoutExpired:
            raise RelayError("postmap did not finish in time.") from None
        if result.returncode != 0:
            # postmap's messages name the file and the line, never the value.
            detail = " ".join((result.stderr or result.stdout).split())[:500]
            raise RelayError(f"postmap failed: {detail}")
        os.chmod(tmp_db, 0o600)
        if os.geteuid() == 0:
            os.chown(tmp_db, 0, 0)
        os.replace(tmp_db, f"{target}.db")
    finally:
        os.umask(old_umask)
        with contextlib.suppress(FileNotFoundError):
            tmp_db.unlink()
    logger.info("Wrote %d relay credentials to %s.db", len(written), target)
    return CredentialsWritten(path=target, relays=written, failed=failed)


CREDENTIALS_TASK = "relays.tasks.relay_credentials_write_task"


def relay_credentials_enqueue() -> None:
    """Have every mail host's worker rewrite the credentials after commit.

    Called after a relay is saved or deleted. Each host keeps its own copy of
    the table, so one outbox message goes to each registered host's queue (the
    default queue alone when none is registered): written in this
    transaction, so a broker that is down loses nothing (docs/workers.md).
    """
    # mailserver owns the hosts and the outbox; imported late so that relays
    # loads without it (its models and forms need neither).
    from mailserver.hosts import mailhost_queues
    from mailserver.outbox import outbox_enqueue

    for _host_id, queue in mailhost_queues():
        outbox_enqueue(task=CREDENTIALS_TASK, args=[], queue=queue)


# --- Test this relay -------------------------------------------------------------


@dataclass(frozen=True)
class RelayTestResult:
    ok: bool
    message: str


def relay_test(*, relay: RelayHost, timeout: float | None = None) -> RelayTestResult:
    """Connect, negotiate verified TLS and log in as Postfix would; send nothing.

    The outcome is stored on the relay (``last_test_*``) and returned. The
    message names the step that failed: connection refused, no answer, TLS
    failure (with the certificate problem), authentication failed (with the
    server's answer).
    """
    timeout = timeout or settings.MAILPANEL_RELAY_TEST_TIMEOUT
    # Only the test fields, here and below: an admin's edit meanwhile is kept.
    RelayHost.objects.filter(pk=relay.pk).update(test_started_at=timezone.now())
    try:
        message = _try_relay(relay, timeout)
        result = RelayTestResult(True, message)
    except _TestFailed as exc:
        result = RelayTestResult(False, str(exc))
    RelayHost.objects.filter(pk=relay.pk).update(
        last_test_at=timezone.now(),
        last_test_ok=result.ok,
        last_test_result=result.message,
        test_queued_at=None,
        test_started_at=None,
    )
    logger.info(
        "Relay %s test: %s", relay.name, result.message if result.ok else "failed"
    )
    return result


TEST_TASK = "relays.tasks.relay_test_task"


def relay_test_enqueue(*, relay: RelayHost) -> None:
    """Have a worker test ``relay``: an outbox message, sent after commit.

    Through the outbox like every enqueue, so a broker that is down delays
    the test instead of failing the request after its commit.
    """
    from mailserver.outbox import outbox_enqueue

    with transaction.atomic():
        RelayHost.objects.filter(pk=relay.pk).update(
            test_queued_at=timezone.now(), test_started_at=None
        )
        outbox_enqueue(task=TEST_TASK, args=[relay.pk])


def longest_test() -> timedelta:
    """Longer than a test can last: a few steps of at most the timeout each."""
    return timedelta(seconds=10 * settings.MAILPANEL_RELAY_TEST_TIMEOUT)


# A queued test that no worker started within a day was lost with the
# broker's data; one still waiting in the outbox is not (it goes later).
LOST_AFTER = timedelta(days=1)


def relay_tests_recover() -> list[RelayHost]:
    """End the tests whose worker is gone, or that no worker will start.

    A worker killed mid-test never records a result, and a test whose task
    the broker lost is never started: either would say "testing" for ever.
    The relay gets a failed result that says so, and the admins one mail.
    The guarded update decides who ends it, so the mail goes out once.
    """
    from mailserver.outbox import outbox_latest

    now = timezone.now()
    ended = []
    running = RelayHost.objects.filter(test_started_at__lt=now - longest_test())
    for relay in running:
        if _test_end(
            relay,
            guard={"test_started_at": relay.test_started_at},
            result="interrupted: the worker running the test stopped before it "
            "finished",
        ):
            ended.append(relay)
    queued = RelayHost.objects.filter(
        test_started_at=None, test_queued_at__lt=now - LOST_AFTER
    )
    for relay in queued:
        message = outbox_latest(task=TEST_TASK, args=[relay.pk])
        if message is not None and (
            message.sent_at is None or message.sent_at >= now - LOST_AFTER
        ):
            continue
        if _test_end(
            relay,
            guard={"test_queued_at": relay.test_queued_at, "test_started_at": None},
            result="never started: no worker took the test within a day "
            "(was the broker restarted without its data?)",
        ):
            ended.append(relay)
    return ended


def _test_end(relay: RelayHost, *, guard: dict, result: str) -> bool:
    """Record ``result`` if the test is still the one found stuck; then mail."""
    ended = RelayHost.objects.filter(pk=relay.pk, **guard).update(
        last_test_at=timezone.now(),
        last_test_ok=False,
        last_test_result=result,
        test_queued_at=None,
        test_started_at=None,
    )
    if not ended:
        return False  # finished or ended meanwhile
    logger.error("Relay %s test %s", relay.name, result)
    recipients = [address for _name, address in settings.ADMINS]
    if not recipients:
        return True
    try:
        send_mail(
            f"[mailpanel] relay test of {relay.name}: {result}"[:200],
            f"The test of relay {relay.name} ({relay.nexthop}) ended without a "
            f"result.\n\nReason: {result}\n\nRun the test again from the "
            "relay list in the admin.\n",
            None,
            recipients,
        )
    except Exception:
        # Recorded on the relay and in the log; a broken mail setup must not
        # crash the task and end the same test again.
        logger.exception("could not mail the relay test's end: %s", relay.name)
    return True


class _TestFailed(Exception):
    pass


def _tls_context() -> ssl.SSLContext:
    # The CAs Postfix uses for relays (smtp_tls_CAfile), so the test and the
    # mail agree about a certificate.
    context = ssl.create_default_context(cafile=settings.MAILPANEL_RELAY_TLS_CA_FILE)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def _try_relay(relay: RelayHost, timeout: float) -> str:
    where = f"{relay.host}:{relay.port}"
    # Not getfqdn(): it may wait for DNS, and the relay does not care.
    helo = getattr(settings, "MAILPANEL_HOSTNAME", "") or socket.gethostname()
    try:
        password = relay.get_password()
    except SecretError as exc:
        raise _TestFailed(str(exc)) from None
    try:
        context = _tls_context()
    except (OSError, ssl.SSLError) as exc:
        raise _TestFailed(
            f"cannot read the CA file {settings.MAILPANEL_RELAY_TLS_CA_FILE}: {exc}"
        ) from None
    client: smtplib.SMTP | None = None
    try:
        if relay.security == RelayHost.Security.IMPLICIT_TLS:
            client = smtplib.SMTP_SSL(
                relay.host, relay.port, helo, timeout=timeout, context=context
            )
        else:
            client = smtplib.SMTP(relay.host, relay.port, helo, timeout=timeout)
            client.ehlo()
            if not client.has_extn("starttls"):
                raise _TestFailed(
                    f"TLS failure: {where} does not offer STARTTLS (is it an "
                    "implicit TLS port such as 465?)"
                )
            client.starttls(context=context)
        client.ehlo()
        offered = client.esmtp_features.get("auth", "").upper().split()
        mechanism = next((m for m in ("PLAIN", "LOGIN") if m in offered), None)
        if mechanism is None:
            raise _TestFailed(
                f"authentication failed: {where} offers no PLAIN or LOGIN login "
                f"inside TLS (offers: {' '.join(offered) or 'none'})"
            )
        client.user, client.password = relay.username, password
        try:
            code, _ = client.auth(
                mechanism, getattr(client, f"auth_{mechanism.lower()}")
            )
        finally:
            client.password = ""
        return f"OK: TLS verified, logged in to {where} as {relay.username} ({code})"
    except _TestFailed:
        raise
    except smtplib.SMTPAuthenticationError as exc:
        raise _TestFailed(
            f"authentication failed: {where} answered {exc.smtp_code} "
            f"{_text(exc.smtp_error)}"
        ) from None
    except ConnectionRefusedError:
        raise _TestFailed(f"connection refused by {where}") from None
    except socket.gaierror as exc:
        raise _TestFailed(f"host {relay.host} not found: {exc.strerror}") from None
    except ssl.SSLCertVerificationError as exc:
        raise _TestFailed(
            f"TLS failure: the certificate of {where} is not trusted "
            f"({exc.verify_message})"
        ) from None
    except ssl.SSLError as exc:
        hint = ""
        if relay.security == RelayHost.Security.IMPLICIT_TLS:
            hint = " (is it a STARTTLS port such as 587?)"
        raise _TestFailed(
            f"TLS failure with {where}: {exc.reason or exc}{hint}"
        ) from None
    except TimeoutError:
        raise _TestFailed(f"no answer from {where} within {timeout:g} s") from None
    except smtplib.SMTPResponseException as exc:
        raise _TestFailed(
            f"{where} refused: {exc.smtp_code} {_text(exc.smtp_error)}"
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise _TestFailed(f"connection to {where} failed: {exc}") from None
    finally:
        if client is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                client.quit()
            with contextlib.suppress(OSError):
                client.close()


def _text(value: bytes | str) -> str:
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    return " ".join(value.split())

"""Helpers for the end-to-end tests: a database link the tests can cut, an
SMTP sink for "external" mail, and small SMTP/IMAP/POP3 clients.

Everything listens on loopback only and on ports the kernel picks, so parallel
runs and a real mail server on the same machine never collide.
"""

from __future__ import annotations

import contextlib
import email
import imaplib
import poplib
import smtplib
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller

CLIENT_HELO = "client.example.net"
DELIVERY_TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def no_verify_context() -> ssl.SSLContext:
    # The test certificate is self-signed; what is tested is that TLS is used.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


# --- a cuttable database link ----------------------------------------------------


class DbLink:
    """A TCP proxy between one daemon and PostgreSQL that a test can cut.

    Cutting closes every open connection and refuses new ones, which is what
    the daemon sees when the database goes away, without stopping the
    machine's one PostgreSQL cluster (the test database lives there too).
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._up = True
        self._closed = False
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._up:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
                with self._lock:
                    self._sockets.discard(sock)

    def cut(self) -> None:
        self._up = False
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def restore(self) -> None:
        self._up = True

    def close(self) -> None:
        self._closed = True
        self.cut()
        self._listener.close()


# --- the "external" world --------------------------------------------------------


@dataclass
class SinkMessage:
    mail_from: str
    rcpt_tos: list[str]
    message: email.message.Message
    # The bytes as received: what a DKIM signature covers.
    raw: bytes = b""


@dataclass
class SmtpSink:
    """Stands in for every external mail server (reached via transport_maps)."""

    port: int = field(default_factory=free_port)
    messages: list[SinkMessage] = field(default_factory=list)
    # Recipients this "outside server" refuses with a 550 (a bounce follows).
    refused: set[str] = field(default_factory=set)

    async def handle_RCPT(  # noqa: N802
        self, server, session, envelope, address, rcpt_options
    ) -> str:
        if address.lower() in self.refused:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802
        raw = envelope.original_content or b""
        self.messages.append(
            SinkMessage(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                email.message_from_bytes(raw),
                raw,
            )
        )
        return "250 2.0.0 Stored"

    def start(self) -> Controller:
        controller = Controller(self, hostname="127.0.0.1", port=self.port)
        controller.start()
        return controller

    def received(self, subject: str) -> list[SinkMessage]:
        return [m for m in self.messages if m.message["Subject"] == subject]

    def wait_for(self, subject: str, count: int = 1) -> list[SinkMessage]:
        found = poll(lambda: len(self.received(subject)) >= count or None)
        assert found, f"the sink never received {count} x {subject!r}"
        return self.received(subject)


# --- clients ------------------------------------------------------------------


def poll(check: Callable[[], object], timeout: float = DELIVERY_TIMEOUT) -> object:
    """Call ``check`` until it returns something truthy or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def unique_subject(label: str) -> str:
    return f"{label} {uuid.uuid4().hex[:10]}"


def make_message(sender: str, recipients: list[str], subject: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message["Message-ID"] = f"<{uuid.uuid4().hex}@{CLIENT_HELO}>"
    message.set_content(f"Body of {subject}\n")
    return message


@contextlib.contextmanager
def smtp_session(port: int, helo: str = CLIENT_HELO) -> Iterator[smtplib.SMTP]:
    client = smtplib.SMTP("127.0.0.1", port, local_hostname=helo, timeout=30)
    try:
        client.ehlo()
        yield client
    finally:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            client.quit()


def transaction(
    port: int, sender: str, recipient: str, helo: str = CLIENT_HELO
) -> tuple[int, str]:
    """MAIL + RCPT on port 25 and stop there: the (code, text) of the refusal,
    or of the accepted RCPT. No message is ever sent by this helper."""
    with smtp_session(port, helo) as client:
        code, text = client.mail(sender)
        if code >= 400:
            return code, text.decode(errors="replace")
        code, text = client.rcpt(recipient)
        client.rset()
        return code, text.decode(errors="replace")


@contextlib.contextmanager
def submission(
    mail, implicit_tls: bool, user: str, password: str
) -> Iterator[smtplib.SMTP]:
    """A logged-in session on 587 (STARTTLS) or 465 (implicit TLS)."""
    if implicit_tls:
        client = smtplib.SMTP_SSL(
            "127.0.0.1",
            mail.submissions_port,
            local_hostname="client.example.net",
            context=no_verify_context(),
            timeout=30,
        )
    else:
        client = smtplib.SMTP(
            "127.0.0.1",
            mail.submission_port,
            local_hostname="client.example.net",
            timeout=30,
        )
        client.starttls(context=no_verify_context())
    try:
        client.ehlo()
        client.login(user, password)
        yield client
    finally:
        with contextlib.suppress(smtplib.SMTPException, OSError):
            client.quit()


def send(port: int, sender: str, recipients: list[str], subject: str) -> None:
    with smtp_session(port) as client:
        client.send_message(
            make_message(sender, recipients, subject), sender, recipients
        )


class IMAP4FromAddress(imaplib.IMAP4):
    """imaplib.IMAP4 connecting from a chosen local address (e.g. 127.0.0.2)."""

    def __init__(self, host: str, port: int, source: str) -> None:
        self._source = source
        super().__init__(host, port, timeout=30)

    def _create_socket(self, timeout):
        return socket.create_connection(
            (self.host, self.port), timeout, source_address=(self._source, 0)
        )


def imap_login(port: int, user: str, password: str) -> imaplib.IMAP4:
    client = imaplib.IMAP4("127.0.0.1", port, timeout=30)
    try:
        client.login(user, password)
    except BaseException:
        with contextlib.suppress(Exception):
            client.logout()
        raise
    return client


def imap_messages(port: int, user: str, password: str) -> list[email.message.Message]:
    client = imap_login(port, user, password)
    try:
        client.select("INBOX", readonly=True)
        _, data = client.search(None, "ALL")
        messages = []
        for number in data[0].split():
            _, parts = client.fetch(number, "(BODY.PEEK[])")
            # Only the (envelope, body) tuple: another session changing flags
            # meanwhile adds untagged "* N FETCH (FLAGS ...)" lines as bytes.
            [body] = [part[1] for part in parts if isinstance(part, tuple)]
            messages.append(email.message_from_bytes(body))
        return messages
    finally:
        client.logout()


def imap_wait_for(
    port: int, user: str, password: str, subject: str, timeout: float = DELIVERY_TIMEOUT
) -> email.message.Message:
    def check():
        try:
            messages = imap_messages(port, user, password)
        except imaplib.IMAP4.error as exc:
            # Only a temporary refusal (database reconnecting) is worth a retry.
            if "UNAVAILABLE" not in str(exc):
                raise
            return None
        found = [m for m in messages if m["Subject"] == subject]
        return found[0] if found else None

    message = poll(check, timeout)
    assert message is not None, f"{user} never received {subject!r} (IMAP)"
    return message


def imap_subjects(port: int, user: str, password: str) -> list[str]:
    return [m["Subject"] for m in imap_messages(port, user, password)]


def pop3_subjects(
    port: int, user: str, password: str, timeout: float = 30
) -> list[str]:
    client = poplib.POP3("127.0.0.1", port, timeout=timeout)
    try:
        client.user(user)
        client.pass_(password)
        subjects = []
        for index in range(1, len(client.list()[1]) + 1):
            lines = client.retr(index)[1]
            subjects.append(email.message_from_bytes(b"\r\n".join(lines))["Subject"])
        return subjects
    finally:
        with contextlib.suppress(poplib.error_proto, OSError):
            client.quit()


def maildir_files(vmail_root: Path, address: str) -> list[Path]:
    local, domain = address.split("@")
    maildir = vmail_root / domain / local / "Maildir"
    return [p for sub in ("new", "cur") for p in (maildir / sub).glob("*")]

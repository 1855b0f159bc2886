"""The outbound SMTP test against listeners on loopback."""

import asyncio
import socket
import threading

import pytest

from monitoring.findings import Severity
from monitoring.port25 import port25_check, smtp_banner
from tests.monitoring.dns_server import free_port


@pytest.fixture
def smtp_listener():
    """A TCP listener that greets with ``banner`` (or never, when None)."""
    sockets = []

    def start(banner: bytes | None) -> str:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        sockets.append(sock)

        def serve():
            while True:
                try:
                    conn, _ = sock.accept()
                except OSError:
                    return
                sockets.append(conn)
                if banner is not None:
                    conn.sendall(banner)

        threading.Thread(target=serve, daemon=True).start()
        return f"127.0.0.1:{sock.getsockname()[1]}"

    yield start
    for sock in sockets:
        sock.close()


def run(**kwargs):
    return asyncio.run(port25_check(timeout=0.3, **kwargs))[0]


def test_it_reads_the_banner(smtp_listener):
    target = smtp_listener(b"220-mx.example ESMTP\r\n220 ready\r\n")
    banner = asyncio.run(smtp_banner(target, timeout=1))
    assert banner.ok and banner.code == 220
    assert banner.text == "220-mx.example ESMTP\n220 ready"


def test_it_reports_port_25_open_when_a_target_greets(smtp_listener):
    target = smtp_listener(b"220 mx.example ESMTP\r\n")
    finding = run(port25_targets=[target], submission_targets=[])
    assert finding.severity is Severity.OK
    assert "220 mx.example ESMTP" in finding.summary


def test_it_times_out_on_a_listener_that_never_answers(smtp_listener):
    target = smtp_listener(None)
    banner = asyncio.run(smtp_banner(target, timeout=0.3))
    assert not banner.ok
    assert banner.error == "connected, no greeting"


def test_it_says_port_25_is_blocked_when_only_587_works(smtp_listener):
    silent = smtp_listener(None)
    submission = smtp_listener(b"220 smtp.example ESMTP\r\n")
    finding = run(port25_targets=[silent], submission_targets=[submission])
    assert finding.severity is Severity.CRITICAL
    assert finding.summary.startswith("Port 25 is blocked, most likely by your ISP")
    assert "relay host on port 587 or 465" in finding.advice


def test_it_does_not_mind_a_blocked_port_25_with_a_relay_host(smtp_listener):
    submission = smtp_listener(b"220 smtp.example ESMTP\r\n")
    finding = run(
        port25_targets=[f"127.0.0.1:{free_port()}"],
        submission_targets=[submission],
        relay_host="[smtp.example]:587",
    )
    assert finding.severity is Severity.INFO


def test_it_cannot_tell_when_nothing_answers(smtp_listener):
    finding = run(
        port25_targets=[smtp_listener(None)],
        submission_targets=[f"127.0.0.1:{free_port()}"],
    )
    assert finding.severity is Severity.UNKNOWN


def test_it_warns_when_the_target_refuses_this_server(smtp_listener):
    target = smtp_listener(b"554 5.7.1 go away\r\n")
    finding = run(port25_targets=[target], submission_targets=[])
    assert finding.severity is Severity.WARNING

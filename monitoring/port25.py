"""Outbound SMTP: can this host open port 25 to other mail servers?

Many ISPs and cloud providers block outbound port 25. The way to tell that
apart from "no network" is a second target on a submission port: if 587
answers and 25 never does, port 25 is blocked on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from monitoring.findings import ADVICE_RELAY_HOST, Finding, Severity

CHECK = "port25"
SUBJECT = "outbound"


@dataclass
class Banner:
    target: str
    ok: bool
    code: int | None = None
    text: str = ""
    error: str = ""


def split_target(target: str, default_port: int = 25) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]:port`` -> (host, port)."""
    target = target.strip()
    if target.startswith("["):
        host, _, rest = target[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    if target.count(":") == 1:
        host, _, port = target.partition(":")
        return host, int(port)
    return target, default_port


async def smtp_banner(target: str, *, timeout: float, default_port: int = 25) -> Banner:
    """Connect and read the greeting (all its lines), then say QUIT."""
    host, port = split_target(target, default_port)
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port), timeout
        )
    except (TimeoutError, OSError) as exc:
        return Banner(target, False, error=_describe(exc, "connect"))
    try:
        lines = []
        while True:
            line = await asyncio.wait_for(reader.readline(), timeout)
            if not line:
                return Banner(target, False, error="closed without a greeting")
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            lines.append(text)
            if len(text) < 4 or text[3] != "-":
                break
        code = int(lines[-1][:3]) if lines[-1][:3].isdigit() else None
        writer.write(b"QUIT\r\n")
        await writer.drain()
        return Banner(target, True, code, "\n".join(lines))
    except (TimeoutError, OSError) as exc:
        return Banner(target, False, error=_describe(exc, "greeting"))
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def _describe(exc: BaseException, stage: str) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer (timeout)" if stage == "connect" else "connected, no greeting"
    return str(exc) or exc.__class__.__name__


async def port25_check(
    *,
    port25_targets: list[str],
    submission_targets: list[str],
    timeout: float,
    relay_host: str = "",
) -> list[Finding]:
    """One finding: port 25 open, blocked (587 works), or no outbound SMTP at all."""
    if not port25_targets:
        return [
            Finding(
                CHECK,
                SUBJECT,
                Severity.INFO,
                "The outbound port 25 test has no targets.",
                "Set MAILPANEL_PORT25_TARGETS to one or more HOST:25 of big mail "
                "providers.",
            )
        ]
    smtp = await asyncio.gather(
        *(smtp_banner(t, timeout=timeout, default_port=25) for t in port25_targets)
    )
    details = {"port25": [b.__dict__ for b in smtp]}
    greeted = [b for b in smtp if b.ok and b.code == 220]
    if greeted:
        return [
            Finding(
                CHECK,
                SUBJECT,
                Severity.OK,
                f"Outbound port 25 works: {greeted[0].target} greeted with "
                f"“{greeted[0].text.splitlines()[0]}”.",
                details=details,
            )
        ]
    answered = [b for b in smtp if b.ok]
    if answered:
        first = answered[0]
        return [
            Finding(
                CHECK,
                SUBJECT,
                Severity.WARNING,
                f"Port 25 is open, but {first.target} refused this server with "
                f"“{first.text.splitlines()[-1]}”: it probably distrusts this "
                "address.",
                "Check the DNSBL results and the PTR record of the sending address.",
                details,
            )
        ]
    submission = await asyncio.gather(
        *(smtp_banner(t, timeout=timeout, default_port=587) for t in submission_targets)
    )
    details["submission"] = [b.__dict__ for b in submission]
    if any(b.ok for b in submission):
        if relay_host:
            return [
                Finding(
                    CHECK,
                    SUBJECT,
                    Severity.INFO,
                    "Port 25 is blocked, but mail goes out through the relay host "
                    f"{relay_host}, so this does not matter.",
                    details=details,
                )
            ]
        return [
            Finding(
                CHECK,
                SUBJECT,
                Severity.CRITICAL,
                "Port 25 is blocked, most likely by your ISP: this server cannot "
                "deliver mail to other servers itself.",
                f"{ADVICE_RELAY_HOST} Or ask the ISP to open port 25 (business "
                "lines and most servers can have it).",
                details,
            )
        ]
    return [
        Finding(
            CHECK,
            SUBJECT,
            Severity.UNKNOWN,
            "No outbound SMTP connection worked, on port 25 or on the submission "
            "port: this host has no outbound connectivity, or the test targets are "
            "down.",
            "Check the firewall and the network; check MAILPANEL_PORT25_TARGETS and "
            "MAILPANEL_SUBMISSION_TARGETS.",
            details,
        )
    ]

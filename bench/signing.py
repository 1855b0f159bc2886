"""What DKIM signing costs on the submission path: rspamd's milter on and off.

Starts a private Postfix, Dovecot and rspamd on loopback, rendered by
``mailserver_apply`` into a temporary directory and started with
bench/delivery.py's ``MailServer`` and ``mailserver.rspamd.rspamd_start``
(the code the tests use), over a small database of its own: one hosted
domain, one mailbox, and the domain's two DKIM keys (RSA 2048 and Ed25519),
made and activated with ``dkim.services``.

Client processes log in on 587 (STARTTLS, AUTH) and each sends its share of
``--messages`` messages to an outside address; Postfix relays them to an SMTP
sink on loopback, running in a process of its own. A round ends when the sink
has every message. Rounds alternate in ABBA order between:

- **on**: the configuration ``mailserver apply`` renders, submission calling
  rspamd, which adds an RSA and an Ed25519 signature to every message;
- **off**: the same with ``MAILPANEL_RSPAMD_MILTER_LISTEN`` empty (no milter).

It prints the throughput of each round, the ratio on/off (pooled and per ABBA
pair; target >= 0.7), the latency of one message (MAIL to the 250 after DATA,
client side) p50/p99 per mode and what signing adds to them, rspamd's CPU time
per message, and ``ls -l /dev/null`` and ``uptime``.

Run from the project root as root: ``.venv/bin/python bench/signing.py --help``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import multiprocessing
import os
import signal
import smtplib
import ssl
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import delivery, lookups  # noqa: E402
from bench.delivery import (  # noqa: E402
    BenchError,
    children_of,
    free_port,
    log,
    percentile,
    proc_stat,
    run,
    wait_for_port,
)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/mailpanel_bench_signing"
HOSTNAME = "mail.bench-signing.test"
DOMAIN = "bench-signing.test"
SENDER = f"alice@{DOMAIN}"
PASSWORD = "Correct-Horse-Battery-9"
SINK_DOMAIN = "sink.bench-signing.test"
RECIPIENT = f"someone@{SINK_DOMAIN}"
CLIENT_HELO = "client.bench-signing.test"
ON, OFF = "on", "off"
RATIO_TARGET = 0.7
TICK = os.sysconf("SC_CLK_TCK")


# --- The sink, in a process of its own ------------------------------------------


@dataclass
class SinkCounters:
    """Shared with the sink process: messages, DKIM signatures, last arrival."""

    messages: multiprocessing.sharedctypes.Synchronized
    signatures: multiprocessing.sharedctypes.Synchronized
    last: multiprocessing.sharedctypes.Synchronized


def _sink_main(port: int, counters: SinkCounters, ready) -> None:
    from aiosmtpd.controller import Controller

    class Handler:
        async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802
            head = (envelope.original_content or b"").split(b"\r\n\r\n", 1)[0]
            signed = head.lower().count(b"\ndkim-signature:")
            with counters.messages.get_lock():
                counters.signatures.value += signed
                counters.messages.value += 1
                counters.last.value = time.monotonic()
            return "250 2.0.0 Stored"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    signal.sigwait({signal.SIGTERM})
    controller.stop()


class Sink:
    def __init__(self) -> None:
        context = multiprocessing.get_context("fork")
        self.port = free_port()
        self.counters = SinkCounters(
            context.Value("i", 0), context.Value("i", 0), context.Value("d", 0.0)
        )
        ready = context.Event()
        # SIGTERM stays blocked in the child, which waits for it with sigwait.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        try:
            self.process = context.Process(
                target=_sink_main, args=(self.port, self.counters, ready), daemon=True
            )
            self.process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
        if not ready.wait(30):
            raise BenchError("the SMTP sink did not start")

    def snapshot(self) -> tuple[int, int]:
        with self.counters.messages.get_lock():
            return self.counters.messages.value, self.counters.signatures.value

    def wait_for(self, total: int, timeout: float) -> float:
        """Until the sink holds ``total`` messages; the monotonic time of the last."""
        deadline = time.monotonic() + timeout
        while self.snapshot()[0] < total:
            if time.monotonic() > deadline:
                raise BenchError(
                    f"the sink has {self.snapshot()[0]} of {total} messages"
                )
            time.sleep(0.01)
        return self.counters.last.value

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(10)


# --- Clients, in processes (no GIL between them) ------------------------------------


def _message(index: int, size: int) -> bytes:
    line = b"The quick brown fox jumps over the lazy dog, again and again.\r\n"
    body = line * max(1, size // len(line))
    head = (
        f"From: Alice <{SENDER}>\r\nTo: <{RECIPIENT}>\r\n"
        f"Subject: signing bench {index}\r\n"
        f"Message-ID: <{index}.{time.time_ns()}@{CLIENT_HELO}>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
    )
    return head.encode() + body


def _client(port: int, count: int, size: int) -> list[float]:
    """One submission session: log in, send ``count`` messages; their latencies."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the instance's self-signed certificate
    latencies = []
    with smtplib.SMTP("127.0.0.1", port, local_hostname=CLIENT_HELO, timeout=120) as s:
        s.starttls(context=context)
        s.ehlo()
        s.login(SENDER, PASSWORD)
        for index in range(count):
            message = _message(index, size)
            start = time.perf_counter()
            s.sendmail(SENDER, [RECIPIENT], message)
            latencies.append(time.perf_counter() - start)
    return latencies


# --- The instance ------------------------------------------------------------------


class SigningServer(delivery.MailServer):
    """bench/delivery.py's private Postfix + Dovecot, plus rspamd, rendered
    with signing on or off."""

    workdir_prefix = "mailpanel-bench-signing-"

    def __init__(self, url: str, args: argparse.Namespace, sink_port: int) -> None:
        super().__init__(url, args)
        self.sink_port = sink_port
        self.milter_port = free_port()
        self.signing_config = None

    def render(self) -> None:
        from django.test import override_settings

        from mailserver.render import MailServerConfig

        self.vmail_root.mkdir()
        ports = self.ports
        credentials = self.workdir / "relay-credentials"
        credentials.write_text("")
        stub = self.workdir / "postmap-etc"  # postmap needs a main.cf
        stub.mkdir()
        (stub / "main.cf").write_text("")
        run(["postmap", "-c", str(stub), f"hash:{credentials}"], "postmap")
        overrides = dict(
            MAILPANEL_VMAIL_ROOT=str(self.vmail_root),
            MAILPANEL_POSTFIX_DIR=str(self.postfix_dir),
            MAILPANEL_DOVECOT_DIR=str(self.dovecot_conf.parent),
            MAILPANEL_POSTFIX_QUEUE_DIR=str(self.queue_dir),
            MAILPANEL_POSTFIX_DATA_DIR=str(self.workdir / "data"),
            MAILPANEL_HOSTNAME=HOSTNAME,
            MAILPANEL_POSTFIX_INET_INTERFACES="127.0.0.1",
            MAILPANEL_POSTFIX_INET_PROTOCOLS="ipv4",
            MAILPANEL_SMTP_LISTEN=f"127.0.0.1:{ports.smtp}",
            MAILPANEL_SUBMISSION_LISTEN=f"127.0.0.1:{ports.submission}",
            MAILPANEL_SUBMISSIONS_LISTEN=f"127.0.0.1:{ports.submissions}",
            MAILPANEL_POSTFIX_TRANSPORTS={
                SINK_DOMAIN: f"smtp:[127.0.0.1]:{self.sink_port}"
            },
            MAILPANEL_POSTFIX_LOG_FILE=str(self.workdir / "postfix.log"),
            MAILPANEL_DOVECOT_LISTEN="127.0.0.1",
            MAILPANEL_IMAP_PORT=ports.imap,
            MAILPANEL_IMAPS_PORT=ports.imaps,
            MAILPANEL_POP3_PORT=ports.pop3,
            MAILPANEL_POP3S_PORT=ports.pop3s,
            MAILPANEL_DOVECOT_BASE_DIR=str(self.workdir / "run"),
            MAILPANEL_DOVECOT_LOG_PATH=str(self.workdir / "dovecot.log"),
            MAILPANEL_RELAY_CREDENTIALS_MAP=str(credentials),
            MAILPANEL_RSPAMD_DIR=str(self.workdir / "rspamd"),
            MAILPANEL_RSPAMD_STATE_DIR=str(self.workdir / "rspamd-state"),
            MAILPANEL_RSPAMD_LOG_FILE=str(self.workdir / "rspamd.log"),
            MAILPANEL_RSPAMD_MILTER_LISTEN=(
                f"inet:127.0.0.1:{self.milter_port}"
                if self.args.milter == "inet"
                else "unix:private/rspamd-milter"
            ),
        )
        with override_settings(**overrides):
            config = MailServerConfig.from_settings()
        tls = self.workdir / "tls"
        self.signing_config = dataclasses.replace(
            config,
            tls_cert=str(tls / "mailserver.crt"),
            tls_key=str(tls / "mailserver.key"),
            tls_self_signed=True,
        )
        self.switch(ON, reload=False)
        os.chown(self.vmail_root, self.config.vmail_uid, self.config.vmail_gid)

    def switch(self, mode: str, reload: bool = True) -> None:
        """Apply the configuration with signing on or off, as a mail host would."""
        from mailserver.services import mailserver_apply

        if mode == self.mode:
            return
        config = self.signing_config
        if mode == OFF:
            config = dataclasses.replace(config, rspamd_milter_listen="")
        self.config = mailserver_apply(config, reload=reload)
        self.mode = mode
        # Idle daemons of the old generation exit; the warm-up starts new ones.
        time.sleep(1.0)

    def start(self) -> None:
        from mailserver.rspamd import rspamd_start

        self.started.append("rspamd")
        self.rspamd_master = rspamd_start(self.config, self.workdir / "start.log")
        super().start()
        wait_for_port(self.ports.submission)

    def stop(self) -> None:
        from mailserver.rspamd import rspamd_stop

        super().stop()
        if self.signing_config is not None:
            rspamd_stop(self.signing_config)

    def rspamd_cpu(self) -> float:
        """CPU seconds of rspamd's processes so far (workers exit on reload:
        their time is in the master's reaped-children time)."""
        ticks = 0
        for pid in [self.rspamd_master, *children_of(self.rspamd_master)]:
            stat = proc_stat(pid)
            if stat is not None:
                ticks += stat[2] + stat[3]
        return ticks / TICK


# --- The database ------------------------------------------------------------------


def prepare_database(url: str) -> None:
    """A fresh database: migrations, one domain, one mailbox, two active keys."""
    from django.core.management import call_command

    from dkim.services import dkim_key_activate, dkim_key_generate
    from domains.models import Domain, Mailbox

    log(f"Creating {lookups.database_name(url)}")
    lookups.create_database(url)
    call_command("migrate", verbosity=0)
    domain = Domain(name=DOMAIN)
    domain.full_clean()
    domain.save()
    box = Mailbox(domain=domain, local_part=SENDER.split("@")[0])
    box.set_password(PASSWORD)
    box.full_clean()
    box.save()
    for key in dkim_key_generate(domain=domain):
        dkim_key_activate(key=key, force=True)


# --- Rounds ------------------------------------------------------------------------


@dataclass
class Round:
    mode: str
    messages: int
    seconds: float
    latencies: list[float]
    signatures: int
    rspamd_cpu: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


def shares(total: int, clients: int) -> list[int]:
    base, extra = divmod(total, clients)
    return [base + (1 if i < extra else 0) for i in range(clients)]


def send_round(
    server: SigningServer,
    sink: Sink,
    pool: ProcessPoolExecutor,
    mode: str,
    messages: int,
    args: argparse.Namespace,
) -> Round:
    before, signatures_before = sink.snapshot()
    cpu_before = server.rspamd_cpu()
    start = time.monotonic()
    jobs = [
        pool.submit(_client, server.ports.submission, count, args.size)
        for count in shares(messages, args.clients)
        if count
    ]
    latencies = [value for job in jobs for value in job.result()]
    last = sink.wait_for(before + messages, timeout=600)
    after, signatures_after = sink.snapshot()
    return Round(
        mode=mode,
        messages=after - before,
        seconds=last - start,
        latencies=latencies,
        signatures=signatures_after - signatures_before,
        rspamd_cpu=server.rspamd_cpu() - cpu_before,
    )


def pooled(rounds: Sequence[Round], mode: str) -> float:
    chosen = [r for r in rounds if r.mode == mode]
    return sum(r.messages for r in chosen) / sum(r.seconds for r in chosen)


def report(rounds: Sequence[Round], args: argparse.Namespace) -> bool:
    log("")
    log(
        f"Submission on 587, {args.messages} messages of {args.size} bytes per "
        f"round from {args.clients} logged-in clients, to the sink"
    )
    ratio = pooled(rounds, ON) / pooled(rounds, OFF)
    pairs = [
        a.rate / b.rate if a.mode == ON else b.rate / a.rate
        for a, b in zip(rounds[::2], rounds[1::2], strict=False)
    ]
    for mode in (ON, OFF):
        chosen = [r for r in rounds if r.mode == mode]
        log(
            f"  {mode:<4} {pooled(rounds, mode):8.1f} messages/s pooled "
            f"(rounds: {', '.join(f'{r.rate:.1f}' for r in chosen)})"
        )
    verdict = "PASS" if ratio >= RATIO_TARGET else "FAIL"
    log(f"  ratio on/off {ratio:.3f} (target >= {RATIO_TARGET}): {verdict}")
    log(
        "  ratio per ABBA pair: "
        + ", ".join(f"{p:.3f}" for p in pairs)
        + f"; geometric mean {math.exp(statistics.fmean(map(math.log, pairs))):.3f}"
    )
    log("")
    log(f"{'latency per message (ms)':<28}{'p50':>10}{'p90':>10}{'p99':>10}")
    stats = {}
    for mode in (ON, OFF):
        values = [v for r in rounds if r.mode == mode for v in r.latencies]
        stats[mode] = [percentile(values, p) * 1000 for p in (50, 90, 99)]
        log(f"  {mode:<26}" + "".join(f"{v:10.2f}" for v in stats[mode]))
    added = [on - off for on, off in zip(stats[ON], stats[OFF], strict=True)]
    log(f"  {'added by signing':<26}" + "".join(f"{v:10.2f}" for v in added))
    log("")
    on_rounds = [r for r in rounds if r.mode == ON]
    on_messages = sum(r.messages for r in on_rounds)
    cpu = sum(r.rspamd_cpu for r in on_rounds) * 1000 / on_messages
    log(f"rspamd CPU per signed message: {cpu:.2f} ms")
    signatures = {r.mode: r.signatures / r.messages for r in rounds}
    log(
        f"DKIM signatures per message at the sink: on {signatures[ON]:.2f}, "
        f"off {signatures[OFF]:.2f}"
    )
    if signatures[ON] != 2 or signatures[OFF] != 0:
        log("  WRONG: every message must carry 2 signatures with signing on, 0 off")
        return False
    return ratio >= RATIO_TARGET


def machine() -> None:
    """What the numbers ran on (and that /dev/null is still the device)."""
    for args in (["ls", "-l", "/dev/null"], ["uptime"]):
        result = subprocess.run(args, capture_output=True, text=True, check=False)
        log(f"$ {' '.join(args)}\n{(result.stdout + result.stderr).strip()}")


# --- Main --------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument(
        "--messages", type=int, default=400, help="messages per round (400)"
    )
    parser.add_argument("--size", type=int, default=4096, help="body bytes (4096)")
    parser.add_argument("--clients", type=int, default=4, help="parallel sessions (4)")
    parser.add_argument(
        "--rounds", type=int, default=8, help="rounds, ABBA: on off off on ... (8)"
    )
    parser.add_argument(
        "--warmup", type=int, default=40, help="untimed messages after a switch (40)"
    )
    parser.add_argument(
        "--milter",
        choices=("unix", "inet"),
        default="unix",
        help="rspamd's socket: unix (the default setting) or loopback TCP",
    )
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument(
        "--keep-workdir", action="store_true", help="keep the configuration and logs"
    )
    args = parser.parse_args(argv)
    if args.rounds < 2 or args.messages < args.clients:
        parser.error("at least 2 rounds, and at least one message per client")
    return args


def interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    lookups.guard(args.database_url)
    if os.geteuid() != 0:
        print("signing bench: run as root (Postfix, Dovecot, rspamd)", file=sys.stderr)
        return 2
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupt)
    # The keys at rest need an encryption key; this database is thrown away.
    from cryptography.fernet import Fernet

    os.environ.setdefault(
        "MAILPANEL_SECRET_ENCRYPTION_KEY", Fernet.generate_key().decode()
    )
    lookups.setup_django(args.database_url)
    started = time.perf_counter()
    with contextlib.ExitStack() as cleanup:
        try:
            return measure(args, cleanup, started)
        except BenchError as exc:
            print(f"\nsigning bench failed: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("\ninterrupted, cleaning up", file=sys.stderr)
            return 130
    return 2  # pragma: no cover (ExitStack does not swallow)


def measure(
    args: argparse.Namespace, cleanup: contextlib.ExitStack, started: float
) -> int:
    url = args.database_url
    machine()
    log(f"{os.cpu_count()} CPUs")
    if not args.keep:
        cleanup.callback(delivery.drop_quietly, url)
    prepare_database(url)
    sink = Sink()
    cleanup.callback(sink.stop)
    server = SigningServer(url, args, sink.port)
    if args.keep_workdir:
        cleanup.callback(log, f"Kept {server.workdir}")
    else:
        cleanup.callback(server.remove)
    cleanup.callback(server.stop)
    log(f"Rendering into {server.workdir}")
    server.render()
    server.start()
    log(
        f"Postfix, Dovecot and rspamd running (submission 127.0.0.1:"
        f"{server.ports.submission}, milter {server.config.rspamd_milter_listen})"
    )
    pool = ProcessPoolExecutor(
        max_workers=args.clients, mp_context=multiprocessing.get_context("fork")
    )
    cleanup.callback(pool.shutdown, cancel_futures=True)
    order = [
        mode
        for i in range(args.rounds)
        for mode in ((ON, OFF) if i % 2 == 0 else (OFF, ON))
    ][: args.rounds]
    rounds: list[Round] = []
    for n, mode in enumerate(order, 1):
        if mode != server.mode:
            server.switch(mode)
            send_round(server, sink, pool, mode, args.warmup, args)
        result = send_round(server, sink, pool, mode, args.messages, args)
        rounds.append(result)
        log(
            f"  round {n}/{len(order)} {mode:<3} {result.rate:8.1f} messages/s "
            f"({result.seconds:.2f} s, {result.signatures / result.messages:.0f} "
            "signatures each)"
        )
    passed = report(rounds, args)
    log("")
    machine()
    log(f"Total run time {time.perf_counter() - started:.1f} s")
    return 0 if passed else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except psycopg.OperationalError as exc:
        sys.exit(f"signing bench: cannot reach PostgreSQL: {exc}")

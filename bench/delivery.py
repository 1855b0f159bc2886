"""Delivery and login throughput through mailpanel's SQL lookups.

Starts a private Postfix + Dovecot instance on loopback, rendered by
``mailserver.services`` into a temporary directory (as tests/conftest.py
does), over a database seeded by ``bench.lookups`` (1,000 domains, 100,000
mailboxes, 100,000 aliases). Then:

* **Delivery**: Postfix's ``smtp-source`` sends ``--messages`` messages over
  SMTP to ``--mailboxes`` mailboxes; Postfix delivers them over LMTP to
  Dovecot. A round ends when every message is a file in its Maildir and the
  queue is empty. Rounds alternate (ABBA) between the rendered ``proxy:pgsql:``
  maps and static ``hash:`` maps built from the same view rows (the floor); the
  rest, Dovecot's SQL userdb included, is identical. The database connections
  held by Postfix (proxymap) and Dovecot are sampled from ``pg_stat_activity``
  throughout (each daemon is given its own ``application_name`` through the
  ``PGAPPNAME`` environment variable), and the CPU time of every process of
  the instance and of its PostgreSQL backends is read from /proc.
* **Lookups of one message**: ``proxymap -v`` for one message lists every
  lookup Postfix makes and whether it reached PostgreSQL.
* **IMAP logins**: parallel clients LOGIN/LOGOUT with the mailboxes' real
  password (hashed with the configured scheme, ARGON2ID by default),
  alternating with the floor: ``domains.passwords.verify_password`` in a loop
  in one process.

Run from the project root as root: ``.venv/bin/python bench/delivery.py --help``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import psycopg

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import lookups  # noqa: E402
from bench.machine import machine_report  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/mailpanel_bench_delivery"
# bench.lookups.seed() gives every mailbox this password.
PASSWORD = "correct horse battery staple"
HOSTNAME = "mail.mailpanel-bench.test"
CLIENT_HELO = "client.bench-sender.example"
# Not a hosted domain, so not in mailpanel_sender_access: port 25 accepts it.
SENDER = "newsletter@bench-sender.example"

POSTFIX_APP = "mailpanel-bench-postfix"
DOVECOT_APP = "mailpanel-bench-dovecot"
MONITOR_APP = "mailpanel-bench-monitor"

RATIO_TARGET = 0.95
# Messages whose lookups are counted after the one listed (proxymap -v).
TRACE_MESSAGES = 200
POSTFIX_CONNECTION_LIMIT = 15

POLL_INTERVAL = 0.2  # pg_stat_activity
CPU_EVERY = 2  # /proc is read every CPU_EVERY polls
QUEUE_DIRS = ("maildrop", "incoming", "active", "deferred", "hold", "corrupt")
SQL, STATIC = "sql", "static"
TICK = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    """Something went wrong; the message says what, for people."""


class PortTaken(BenchError):
    """A listener's port was taken between choosing and binding it."""


def log(text: str) -> None:
    print(text, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", port), timeout=1),
        ):
            return
        time.sleep(0.1)
    raise BenchError(f"nothing listens on 127.0.0.1:{port}")


def run(args: Sequence[str], what: str, timeout: float = 120) -> str:
    result = subprocess.run(
        list(args), capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise BenchError(f"{what} failed: {(result.stderr + result.stdout).strip()}")
    return result.stdout


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def children_of(ppid: int) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            stat = proc_stat(int(name))
            if stat is not None and stat[1] == ppid:
                found.append(int(name))
    return found


def proc_stat(pid: int) -> tuple[str, int, int, int] | None:
    """(comm, ppid, utime + stime, cutime + cstime) in ticks; None when gone.

    cutime + cstime is the CPU time of the children the process has reaped.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    head, _, rest = data.rpartition(b")")
    fields = rest.split()
    comm = head.partition(b"(")[2].decode(errors="replace")
    return (
        comm,
        int(fields[1]),
        int(fields[11]) + int(fields[12]),
        int(fields[13]) + int(fields[14]),
    )


# --- The database -------------------------------------------------------------


def prepare_database(url: str, keep: bool, seed: str) -> None:
    """Seed exactly like bench/lookups.py (its functions), unless --keep finds
    a seeded database."""
    if keep and lookups.is_seeded(url):
        log(f"Reusing seeded database {lookups.database_name(url)}")
        return
    log(f"Seeding {lookups.database_name(url)} (bench.lookups.seed)")
    timings: dict[str, float] = {}
    with lookups.timed("create database", timings):
        lookups.create_database(url)
    timings |= lookups.seed(url, random.Random(seed))
    with (
        psycopg.connect(lookups.conninfo(url), autocommit=True) as conn,
        lookups.timed("VACUUM ANALYZE", timings),
    ):
        conn.execute("VACUUM ANALYZE")
    log(f"  {'total seeding':<28} {sum(timings.values()):8.2f} s")


@dataclass
class Data:
    targets: list[str]  # timed delivery recipients
    warm: list[str]  # warm-up recipients
    logins: list[tuple[str, str]]  # (username, stored hash) for IMAP


def pick_data(url: str, args: argparse.Namespace) -> Data:
    rng = random.Random(f"{args.seed}:delivery")
    with psycopg.connect(lookups.conninfo(url), autocommit=True) as conn:
        # Mailboxes that deliver to themselves only (no forward elsewhere).
        mailboxes = [
            row[0]
            for row in conn.execute(
                "SELECT m.address FROM mailpanel_virtual_mailboxes m "
                "JOIN mailpanel_virtual_aliases a "
                "  ON a.address = m.address AND a.destination = m.address "
                "ORDER BY m.address"
            )
        ]
        imap = conn.execute(
            "SELECT username, password FROM mailpanel_dovecot_passdb "
            "WHERE service = 'imap' ORDER BY username"
        ).fetchall()
    if len(mailboxes) < args.mailboxes + 20:
        raise BenchError(f"only {len(mailboxes)} mailboxes in the database")
    chosen = rng.sample(mailboxes, args.mailboxes + 20)
    logins = rng.sample(imap, min(len(imap), 2000))
    return Data(chosen[: args.mailboxes], chosen[args.mailboxes :], logins)


_QUERY = re.compile(
    r"SELECT (?P<expr>.+) FROM (?P<view>\w+) WHERE (?P<key>\w+) = '(?P<form>%s|%u@%d)'"
    r"(?P<limit> LIMIT 1)?"
)
_VIEW = re.compile(r"\bFROM (\w+)")
# proxy:pgsql: maps, and the pgsql: maps trivial-rewrite opens itself.
_SQL_MAP = re.compile(r"((?:proxy:)?pgsql:\$\{config_directory\}/pgsql-([\w-]+)\.cf)")


def lookup_query(path: Path) -> str:
    for line in path.read_text().splitlines():
        name, _, value = line.partition("=")
        if name.strip() == "query":
            return value.strip()
    raise BenchError(f"no query in {path}")


def static_rows(conn: psycopg.Connection, query: str) -> str:
    """SQL returning (key, value) for every key a Postfix lookup query answers.

    ``SELECT x FROM view WHERE key = '%s' [LIMIT 1]``: one row per key, several
    rows of one key comma-separated as Postfix returns them. With
    ``'%u@%d'`` instead of ``'%s'``, only the keys such a query can find: those
    with a non-empty local part and domain around their last '@' (Postfix
    sends no query for any other key). Any other query (e.g. one with ``%d``
    alone, or none) has no exact static form; it is accepted only while its
    view is empty, when an empty map answers like it.
    """
    match = _QUERY.fullmatch(query)
    if match is not None:
        expr, view, key = match["expr"], match["view"], match["key"]
        text = f"({expr})::text"
        value = (
            f"min({text})"
            if match["limit"]
            else f"string_agg({text}, ',' ORDER BY {text})"
        )
        where = f" WHERE {key} ~ '^.+@[^@]+$'" if match["form"] == "%u@%d" else ""
        return f"SELECT {key}, {value} FROM {view}{where} GROUP BY {key}"
    view = _VIEW.search(query)
    if view is not None:
        row = conn.execute(f"SELECT count(*) FROM {view[1]}").fetchone()
        if row == (0,):
            return "SELECT NULL, NULL WHERE false"
    raise BenchError(f"no static equivalent for this lookup: {query}")


# --- The mail server ----------------------------------------------------------


@dataclass
class Ports:
    smtp: int = field(default_factory=free_port)
    submission: int = field(default_factory=free_port)
    submissions: int = field(default_factory=free_port)
    imap: int = field(default_factory=free_port)
    imaps: int = field(default_factory=free_port)
    pop3: int = field(default_factory=free_port)
    pop3s: int = field(default_factory=free_port)


class MailServer:
    """A private Postfix + Dovecot on loopback, rendered by mailserver.

    The SQL variant of main.cf is exactly what ``mailserver_apply`` writes (the
    ``postfix_extra`` only adds ``import_environment`` for PGAPPNAME); the
    static variant replaces the six ``proxy:pgsql:`` map references by
    ``hash:`` files dumped from the same views, and nothing else.
    """

    # bench/signing.py starts its instance with this class too.
    workdir_prefix = "mailpanel-bench-delivery-"

    def __init__(self, url: str, args: argparse.Namespace) -> None:
        self.url = url
        self.args = args
        self.workdir = Path(tempfile.mkdtemp(prefix=self.workdir_prefix))
        self.workdir.chmod(0o755)
        self.vmail_root = self.workdir / "vmail"
        self.postfix_dir = self.workdir / "postfix"
        self.dovecot_conf = self.workdir / "dovecot" / "dovecot.conf"
        self.queue_dir = self.workdir / "queue"
        self.ports = Ports()
        self.main_cf: dict[str, str] = {}
        self.mode = ""
        self.postfix_master: int | None = None
        self.dovecot_master: int | None = None
        self.started: list[str] = []

    # rendering

    def render(self) -> None:
        from django.test import override_settings

        from mailserver.render import MailServerConfig
        from mailserver.services import mailserver_apply, validate_dovecot

        self.vmail_root.mkdir()
        ports = self.ports
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
            MAILPANEL_POSTFIX_TRANSPORTS={},
            MAILPANEL_POSTFIX_LOG_FILE=str(self.workdir / "postfix.log"),
            MAILPANEL_DOVECOT_LISTEN="127.0.0.1",
            MAILPANEL_IMAP_PORT=ports.imap,
            MAILPANEL_IMAPS_PORT=ports.imaps,
            MAILPANEL_POP3_PORT=ports.pop3,
            MAILPANEL_POP3S_PORT=ports.pop3s,
            MAILPANEL_DOVECOT_BASE_DIR=str(self.workdir / "run"),
            MAILPANEL_DOVECOT_LOG_PATH=str(self.workdir / "dovecot.log"),
            MAILPANEL_ALLOW_PLAINTEXT_AUTH_ON_LOOPBACK=True,
            # Relay hosts are not benchmarked: an empty table, not /etc/mailpanel.
            MAILPANEL_RELAY_CREDENTIALS_MAP=str(self.workdir / "relay-credentials"),
            # Port 25 calls no milter: no signer (bench/signing.py measures it).
            MAILPANEL_RSPAMD_MILTER_LISTEN="",
        )
        (self.workdir / "relay-credentials").write_text("")
        # postmap needs a main.cf; the machine's /etc/postfix may have none.
        stub = self.workdir / "postmap-etc"
        stub.mkdir()
        (stub / "main.cf").write_text("")
        run(
            ["postmap", "-c", str(stub), f"hash:{self.workdir / 'relay-credentials'}"],
            "postmap",
        )
        env = run(["postconf", "-d", "-h", "import_environment"], "postconf").strip()
        extra = {"import_environment": f"{env} PGAPPNAME={POSTFIX_APP}"}
        for item in self.args.postfix_extra:
            name, _, value = item.partition("=")
            extra[name.strip()] = value.strip()
        with override_settings(**overrides):
            config = MailServerConfig.from_settings()
            if self.args.proxymap_processes is not None:
                config = dataclasses.replace(
                    config, proxymap_processes=self.args.proxymap_processes
                )
            if self.args.dovecot_db_connections is not None:
                config = dataclasses.replace(
                    config, dovecot_db_connections=self.args.dovecot_db_connections
                )
            if self.args.db_socket:
                config = dataclasses.replace(
                    config,
                    postfix_db=dataclasses.replace(
                        config.postfix_db, host=self.args.db_socket
                    ),
                    dovecot_db=dataclasses.replace(
                        config.dovecot_db, host=self.args.db_socket
                    ),
                )
            tls = self.workdir / "tls"
            config = dataclasses.replace(
                config,
                # A throw-away self-signed pair; var/tls is left alone.
                tls_cert=str(tls / "mailserver.crt"),
                tls_key=str(tls / "mailserver.key"),
                tls_self_signed=True,
                postfix_extra=extra,
            )
            self.config = mailserver_apply(config, reload=False)
        os.chown(self.vmail_root, self.config.vmail_uid, self.config.vmail_gid)
        if self.args.smtpd_option or self.args.master_extra:
            self.extend_master_cf()

        # Dovecot's extension point (never written by mailpanel): only the
        # application_name for pg_stat_activity, plus --dovecot-extra.
        dovecot_env = run(
            ["doveconf", "-c", str(self.dovecot_conf), "-h", "import_environment"],
            "doveconf",
        ).strip()
        local = [f"import_environment = {dovecot_env} PGAPPNAME={DOVECOT_APP}"]
        local += self.args.dovecot_extra
        (self.dovecot_conf.parent / "local.conf").write_text("\n".join(local) + "\n")
        validate_dovecot(self.dovecot_conf)

    def extend_master_cf(self) -> None:
        """--smtpd-option and --master-extra, for both modes alike."""
        master_cf = self.postfix_dir / "master.cf"
        text = master_cf.read_text()
        listen = re.escape(f"127.0.0.1:{self.ports.smtp}")
        options = "".join(f"  -o {o}\n" for o in self.args.smtpd_option)
        text, count = re.subn(
            rf"^({listen}\s+inet\s.*\ssmtpd\n)",
            lambda m: m[1] + options,
            text,
            flags=re.M,
        )
        if count != 1:
            raise BenchError("cannot find the port 25 smtpd in master.cf")
        text += "".join(
            line.replace("\\n", "\n") + "\n" for line in self.args.master_extra
        )
        master_cf.write_text(text)

    def build_static_maps(self) -> None:
        """Dump every SQL map main.cf references into a ``hash:`` file.

        Works from the rendered files (main.cf's ``proxy:pgsql:`` references
        and each lookup file's ``query``), so maps mailserver adds later are
        covered or refused, never silently left on SQL.
        """
        from mailserver.services import validate_postfix

        main_cf = (self.postfix_dir / "main.cf").read_text()
        # name -> its references: virtual-mailbox-domains is both a proxymap
        # table and, for trivial-rewrite, a direct one.
        references: dict[str, set[str]] = {}
        for reference, name in _SQL_MAP.findall(main_cf):
            references.setdefault(name, set()).add(reference)
        static_cf = main_cf
        with psycopg.connect(lookups.conninfo(self.url), autocommit=True) as conn:
            for name in sorted(references):
                query = lookup_query(self.postfix_dir / f"pgsql-{name}.cf")
                path = self.postfix_dir / f"static-{name}"
                rows = 0
                with path.open("w") as handle:
                    for key, value in conn.execute(static_rows(conn, query)):
                        handle.write(f"{key} {value}\n")
                        rows += 1
                run(
                    ["postmap", "-c", str(self.postfix_dir), f"hash:{path}"],
                    f"postmap {path.name}",
                )
                static = f"hash:${{config_directory}}/static-{name}"
                # Longest first: "pgsql:X" is the tail of "proxy:pgsql:X".
                for reference in sorted(references[name], key=len, reverse=True):
                    static_cf = static_cf.replace(reference, static)
                    if name in self.args.static_map:
                        main_cf = main_cf.replace(reference, static)
                log(f"  static-{name:<24} {rows:>8} keys   {query}")
        unknown = set(self.args.static_map) - set(references)
        if unknown:
            raise BenchError(f"--static-map: no such map {', '.join(unknown)}")
        if "pgsql:" in static_cf:
            raise BenchError("a pgsql: map was left in the static main.cf")
        self.main_cf = {SQL: main_cf, STATIC: static_cf}
        # Validate the static variant the way `mailserver apply` does.
        self.write_main_cf(STATIC)
        validate_postfix(self.postfix_dir)
        self.write_main_cf(SQL)

    def write_main_cf(self, mode: str) -> None:
        path = self.postfix_dir / "main.cf"
        tmp = path.with_name(".main.cf.bench")
        tmp.write_text(self.main_cf[mode])
        os.replace(tmp, path)
        self.mode = mode

    def override_queries(self, overrides: Sequence[str]) -> None:
        """--lookup-query NAME=QUERY: try another query text in pgsql-NAME.cf
        (after the static maps were dumped with the rendered one)."""
        for item in overrides:
            name, _, query = item.partition("=")
            path = self.postfix_dir / f"pgsql-{name.strip()}.cf"
            if not path.exists():
                raise BenchError(f"--lookup-query: no {path.name}")
            lines = [
                f"query = {query.strip()}" if line.startswith("query =") else line
                for line in path.read_text().splitlines()
            ]
            # Opened for writing, not replaced: keeps its mode and group.
            with path.open("w") as handle:
                handle.write("\n".join(lines) + "\n")

    def trace_lookups(
        self, sender: Sender, addresses: Sequence[str], more: int
    ) -> tuple[list[Lookup], list[Lookup]]:
        """Every lookup Postfix makes, from ``proxymap -v``: for one message
        to ``addresses[0]`` after a reload (every cache cold), then for
        ``more`` messages to ``addresses`` (smtpd's resolve cache warm)."""
        self.switch(SQL)
        master_cf = self.postfix_dir / "master.cf"
        original = master_cf.read_text()
        verbose, count = re.subn(
            r"^(proxymap\s+unix\s.*\sproxymap)\s*$", r"\1 -v", original, flags=re.M
        )
        if count != 1:
            raise BenchError("cannot find the proxymap service in master.cf")
        # trivial-rewrite asks for the hosted domains itself.
        verbose, count = re.subn(
            r"^((?:rewrite|smtpd-rewrite)\s+unix\s.*\strivial-rewrite)\s*$",
            r"\1 -v",
            verbose,
            flags=re.M,
        )
        if count != 2:
            raise BenchError("cannot find the trivial-rewrite services in master.cf")
        try:
            master_cf.write_text(verbose)
            run(["postfix", "-c", str(self.postfix_dir), "reload"], "postfix reload")
            time.sleep(1.5)
            first = self.traced(sender, [(addresses[0], 1)])
            rest = self.traced(sender, spread(addresses, more))
        finally:
            master_cf.write_text(original)
            run(["postfix", "-c", str(self.postfix_dir), "reload"], "postfix reload")
            time.sleep(1.0)
        return first, rest

    def traced(self, sender: Sender, jobs: Sequence[tuple[str, int]]) -> list[Lookup]:
        """The lookups proxymap logs while ``jobs`` are sent and delivered."""
        self.clear_mail()
        start = self.log_position()[0]
        sender.send(jobs)
        wait_delivered(self, [a for a, _ in jobs], sum(n for _, n in jobs), 300)
        time.sleep(1.5)  # postlogd writes asynchronously
        with open(self.workdir / "postfix.log", "rb") as handle:
            handle.seek(start)
            text = handle.read().decode(errors="replace")
        return parse_lookup_log(text)

    # processes

    def start(self) -> None:
        for name, args in (
            ("postfix", ["postfix", "-c", str(self.postfix_dir), "start"]),
            ("dovecot", ["dovecot", "-c", str(self.dovecot_conf)]),
        ):
            # Not a pipe: the daemons inherit it and would keep run() waiting.
            with open(self.workdir / "start.log", "a+") as output:
                self.started.append(name)
                result = subprocess.run(
                    args, stdout=output, stderr=output, timeout=60, check=False
                )
            if result.returncode != 0:
                logs = "".join(
                    (self.workdir / log_name).read_text(errors="replace")
                    for log_name in ("start.log", "postfix.log")
                    if (self.workdir / log_name).exists()
                )
                error = PortTaken if "Address already in use" in logs else BenchError
                raise error(f"{' '.join(args)} failed: {logs[-2000:]}")
        wait_for_port(self.ports.smtp)
        wait_for_port(self.ports.imap)
        deadline = time.monotonic() + 30
        while True:
            self.postfix_master = read_pid(self.queue_dir / "pid" / "master.pid")
            self.dovecot_master = read_pid(self.workdir / "run" / "master.pid")
            if self.postfix_master and self.dovecot_master:
                break
            if time.monotonic() > deadline:
                raise BenchError(
                    f"no master pid (Postfix {self.postfix_master}, Dovecot "
                    f"{self.dovecot_master}); see {self.workdir}/start.log"
                )
            time.sleep(0.2)

    def switch(self, mode: str) -> None:
        if mode == self.mode:
            return
        self.write_main_cf(mode)
        run(["postfix", "-c", str(self.postfix_dir), "reload"], "postfix reload")
        # Idle daemons of the old generation exit; the warm-up starts new ones.
        time.sleep(1.0)

    def stop(self) -> None:
        """Stop both daemons and make sure none of their processes is left."""
        masters = []
        if "dovecot" in self.started:
            masters.append(
                self.dovecot_master or read_pid(self.workdir / "run" / "master.pid")
            )
            subprocess.run(
                ["doveadm", "-c", str(self.dovecot_conf), "stop"],
                capture_output=True,
                timeout=60,
                check=False,
            )
        if "postfix" in self.started:
            masters.append(
                self.postfix_master or read_pid(self.queue_dir / "pid" / "master.pid")
            )
            subprocess.run(
                ["postfix", "-c", str(self.postfix_dir), "stop"],
                capture_output=True,
                timeout=60,
                check=False,
            )
        for master in masters:
            if master is None:
                continue
            children = children_of(master)
            if not wait_gone(master, 20):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(master, signal.SIGKILL)
            for child in children:
                if not wait_gone(child, 5):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(child, signal.SIGKILL)
        self.started.clear()

    def remove(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)

    # mail

    def home(self, address: str) -> Path:
        local, _, domain = address.partition("@")
        return self.vmail_root / domain / local

    def delivered(self, addresses: Sequence[str]) -> int:
        count = 0
        for address in addresses:
            maildir = self.home(address) / "Maildir"
            for sub in ("new", "cur"):
                with contextlib.suppress(FileNotFoundError):
                    count += len(os.listdir(maildir / sub))
        return count

    def last_delivery(self, addresses: Sequence[str]) -> float:
        """Wall-clock time of the last delivery: the newest ctime in new/ (the
        rename into new/ sets it; Dovecot may set mtime to the received date)."""
        newest = 0
        for address in addresses:
            with contextlib.suppress(FileNotFoundError):
                for entry in os.scandir(self.home(address) / "Maildir" / "new"):
                    newest = max(newest, entry.stat().st_ctime_ns)
        return newest / 1e9

    def queued(self) -> int:
        count = 0
        for name in QUEUE_DIRS:
            for _, _, files in os.walk(self.queue_dir / name):
                count += len(files)
        return count

    def clear_mail(self) -> None:
        for child in self.vmail_root.iterdir():
            shutil.rmtree(child, ignore_errors=True)

    def log_position(self) -> tuple[int, int]:
        sizes = []
        for name in ("postfix.log", "dovecot.log"):
            try:
                sizes.append((self.workdir / name).stat().st_size)
            except FileNotFoundError:
                sizes.append(0)
        return sizes[0], sizes[1]

    def problems_since(self, position: tuple[int, int]) -> list[str]:
        """Log lines since ``position`` that mean something went wrong."""
        bad = re.compile(
            r"status=(deferred|bounced)|warning:|fatal:|panic:|"
            r"(Error|Fatal|Panic|Warning):"
        )
        found = []
        for name, start in zip(("postfix.log", "dovecot.log"), position, strict=True):
            try:
                with open(self.workdir / name, "rb") as handle:
                    handle.seek(start)
                    text = handle.read().decode(errors="replace")
            except FileNotFoundError:
                continue
            found += [
                f"{name}: {line}" for line in text.splitlines() if bad.search(line)
            ]
        return found

    def postqueue(self) -> str:
        result = subprocess.run(
            ["postqueue", "-c", str(self.postfix_dir), "-p"],
            capture_output=True,
            text=True,
            check=False,
        )
        return (result.stdout + result.stderr)[-3000:]


@dataclass
class Lookup:
    table: str  # lookup file name without pgsql- and .cf
    key: str
    via: str = "proxymap"  # or the trivial-rewrite service that asked itself
    queried: bool = False  # False: Postfix suppressed the SQL query (%d, %u)
    rows: int = 0


_VERBOSE_LINE = re.compile(
    r"postfix/(?:(?P<service>[\w-]+)/)?(?P<program>proxymap|trivial-rewrite)"
    r"\[(?P<pid>\d+)\]: (?P<message>.*)$"
)
# trivial-rewrite -v, before it queries one of its own (pgsql:) tables.
_DIRECT_LOOKUP = re.compile(r"match_string: \w+: (\S+) ~\? pgsql:(\S+?)\(")


def _table_name(path: str) -> str:
    return path.rpartition("/")[2].removeprefix("pgsql-").removesuffix(".cf")


def parse_lookup_log(text: str) -> list[Lookup]:
    """The lookups in ``proxymap -v`` and ``trivial-rewrite -v`` output, with
    their SQL fate."""
    found: list[Lookup] = []
    request: dict[int, dict[str, str]] = {}
    attribute: dict[int, str] = {}
    current: dict[int, Lookup] = {}
    for line in text.splitlines():
        match = _VERBOSE_LINE.search(line)
        if match is None:
            continue
        pid, message = int(match["pid"]), match["message"]
        direct = _DIRECT_LOOKUP.match(message)
        if match["program"] == "trivial-rewrite":
            if direct:
                service = match["service"] or "rewrite"
                current[pid] = Lookup(_table_name(direct[2]), direct[1], via=service)
                found.append(current[pid])
        elif message.startswith("input attribute name: "):
            name = message.removeprefix("input attribute name: ")
            attribute[pid] = name
            if name == "(end)":
                fields = request.pop(pid, {})
                if fields.get("request") == "lookup":
                    table = _table_name(fields.get("table", ""))
                    current[pid] = Lookup(table, fields.get("key", ""))
                    found.append(current[pid])
        elif message.startswith("input attribute value: "):
            value = message.removeprefix("input attribute value: ")
            request.setdefault(pid, {})[attribute.get(pid, "")] = value
        if message.startswith("dict_pgsql: successful query") and pid in current:
            current[pid].queried = True
        elif message.startswith("dict_pgsql_lookup: retrieved") and pid in current:
            current[pid].rows = int(message.split()[2])
    return found


# --- Sampling connections and CPU ------------------------------------------------


@dataclass
class Window:
    """What the monitor saw between begin() and end().

    CPU: each process of interest is sampled from /proc every
    CPU_EVERY * POLL_INTERVAL s. What a process used between its last sample
    and its exit is recovered from its master's reaped-children time
    (cutime + cstime) and shown as "(exited)", so short-lived processes
    (imap-login, smtpd after max_use) are counted too.
    """

    peak: Counter[str] = field(default_factory=Counter)  # concurrent connections
    opened: dict[str, set[int]] = field(default_factory=dict)  # backend pids
    # pid -> (group, ticks, owner): owner is the master that reaps it
    baseline: dict[int, tuple[str, int, str]] = field(default_factory=dict)
    latest: dict[int, tuple[str, int, str]] = field(default_factory=dict)
    alive: set[int] = field(default_factory=set)  # pids in the last sample
    reaped_baseline: dict[str, int] = field(default_factory=dict)
    reaped_latest: dict[str, int] = field(default_factory=dict)
    peak_proxymap: int = 0
    polls: int = 0

    def update(self, sample: Sample) -> None:
        self.latest.update(sample.processes)
        self.alive = set(sample.processes)
        self.reaped_latest = dict(sample.reaped)
        self.peak_proxymap = max(self.peak_proxymap, sample.proxymaps)

    def cpu(self) -> dict[str, float]:
        ticks: Counter[str] = Counter()
        exited_seen: Counter[str] = Counter()
        for pid, (group, now, owner) in self.latest.items():
            before = self.baseline.get(pid)
            start = before[1] if before is not None and before[0] == group else 0
            ticks[group] += max(0, now - start)
            if pid not in self.alive:
                exited_seen[owner] += now
        for owner, now in self.reaped_latest.items():
            unseen = now - self.reaped_baseline.get(owner, now) - exited_seen[owner]
            if unseen > 0:
                ticks[f"{owner} (exited)"] += unseen
        return {group: value / TICK for group, value in ticks.items()}


@dataclass
class Sample:
    processes: dict[int, tuple[str, int, str]]
    reaped: dict[str, int]  # owner -> cutime + cstime of the master
    proxymaps: int


class Monitor:
    """Polls pg_stat_activity (connections per daemon) and /proc (CPU time of
    the instance's processes and of their PostgreSQL backends)."""

    def __init__(self, url: str, postfix_master: int, dovecot_master: int) -> None:
        self.dbname = lookups.database_name(url)
        self.conn = psycopg.connect(
            lookups.conninfo(url), autocommit=True, application_name=MONITOR_APP
        )
        self.me = os.getpid()
        self.owners = {
            postfix_master: "postfix",
            dovecot_master: "dovecot",
            self.me: "bench",
        }
        self.backends: dict[int, str] = {}
        self.window: Window | None = None
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        n = 0
        while not self.stopped.wait(POLL_INTERVAL):
            try:
                self.poll(cpu=n % CPU_EVERY == 0)
            except (psycopg.Error, OSError):
                if self.stopped.is_set():
                    return
                raise
            n += 1

    def poll(self, cpu: bool = True) -> None:
        with self.lock:
            rows = self.conn.execute(
                "SELECT pid, application_name FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                [self.dbname],
            ).fetchall()
            counts: Counter[str] = Counter()
            for pid, app in rows:
                label = {POSTFIX_APP: "postfix", DOVECOT_APP: "dovecot"}.get(
                    app, "other"
                )
                self.backends[pid] = label
                counts[label] += 1
            window = self.window
            if window is None:
                return
            window.polls += 1
            for label, count in counts.items():
                window.peak[label] = max(window.peak[label], count)
            for pid, _ in rows:
                window.opened.setdefault(self.backends[pid], set()).add(pid)
            if cpu:
                window.update(self.sample())

    def sample(self) -> Sample:
        """CPU ticks per process of interest, and how many proxymaps run."""
        found: dict[int, tuple[str, int, str]] = {}
        reaped: dict[str, int] = {}
        proxymaps = 0
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            pid = int(name)
            stat = proc_stat(pid)
            if stat is None:
                continue
            comm, ppid, ticks, children = stat
            if pid in self.owners:
                reaped[self.owners[pid]] = children
            if ppid in self.owners:
                owner = self.owners[ppid]
                if owner == "dovecot" and comm == "auth" and is_auth_worker(pid):
                    comm = "auth-worker"
                if comm == "proxymap":
                    proxymaps += 1
                group = comm if owner == "bench" else f"{owner}/{comm}"
            elif pid == self.me:
                owner, group = "bench", "bench (this script)"
            elif self.backends.get(pid) in ("postfix", "dovecot"):
                owner, group = "postgres", f"postgres ({self.backends[pid]})"
            else:
                continue
            found[pid] = (group, ticks, owner)
        return Sample(found, reaped, proxymaps)

    def begin(self) -> None:
        with self.lock:
            sample = self.sample()
            self.window = Window(
                baseline=sample.processes,
                latest=dict(sample.processes),
                alive=set(sample.processes),
                reaped_baseline=sample.reaped,
                reaped_latest=dict(sample.reaped),
            )
        self.poll()

    def end(self) -> Window:
        self.poll()
        with self.lock:
            window, self.window = self.window, None
        assert window is not None
        return window

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
        self.conn.close()


def is_auth_worker(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            cmdline = handle.read()
    except OSError:
        return False
    return b"-w" in cmdline.split(b"\0") or b"worker" in cmdline


# --- Delivery -------------------------------------------------------------------


@dataclass
class Round:
    mode: str
    messages: int
    seconds: float  # first SMTP connection to the last file in a Maildir
    accept_seconds: float  # until smtp-source finished
    window: Window
    problems: list[str]

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


class Sender:
    """Runs smtp-source jobs, at most ``concurrency`` SMTP sessions at a time."""

    def __init__(self, binary: str, port: int, size: int, concurrency: int) -> None:
        self.binary = binary
        self.port = port
        self.size = size
        self.concurrency = concurrency
        self.running: set[subprocess.Popen[bytes]] = set()
        self.lock = threading.Lock()
        self.cancelled = False

    def _job(self, address: str, count: int) -> str:
        args = [
            self.binary,
            "-s", "1",
            "-m", str(count),
            "-l", str(self.size),
            "-f", SENDER,
            "-t", address,
            "-M", CLIENT_HELO,
            "-S", "mailpanel delivery bench",
            f"127.0.0.1:{self.port}",
        ]  # fmt: skip
        with self.lock:
            if self.cancelled:
                return "cancelled"
            process = subprocess.Popen(
                args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            self.running.add(process)
        try:
            output, _ = process.communicate(timeout=600)
        finally:
            with self.lock:
                self.running.discard(process)
        if process.returncode != 0:
            return f"smtp-source -t {address}: {output.decode(errors='replace')}"
        return ""

    def send(self, jobs: Sequence[tuple[str, int]]) -> None:
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            try:
                errors = [e for e in pool.map(lambda j: self._job(*j), jobs) if e]
            except BaseException:
                self.kill()
                raise
        if errors:
            raise BenchError(f"{len(errors)} smtp-source jobs failed: {errors[0]}")

    def kill(self) -> None:
        with self.lock:
            self.cancelled = True
            for process in self.running:
                with contextlib.suppress(OSError):
                    process.kill()


def spread(addresses: Sequence[str], total: int) -> list[tuple[str, int]]:
    """``total`` messages over ``addresses``, as even as possible."""
    base, extra = divmod(total, len(addresses))
    return [
        (a, base + (i < extra)) for i, a in enumerate(addresses) if base + (i < extra)
    ]


def wait_delivered(
    server: MailServer, addresses: Sequence[str], expected: int, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        count = server.delivered(addresses)
        if count > expected:
            raise BenchError(f"{count} messages delivered, {expected} sent")
        if count == expected and server.queued() == 0:
            return
        if time.monotonic() > deadline:
            raise BenchError(
                f"only {count} of {expected} messages delivered after "
                f"{timeout:.0f} s; queue:\n{server.postqueue()}"
            )
        time.sleep(0.2)


def delivery_round(
    server: MailServer,
    monitor: Monitor,
    sender: Sender,
    data: Data,
    mode: str,
    args: argparse.Namespace,
) -> Round:
    server.switch(mode)
    server.clear_mail()
    # Untimed: new daemons after the reload, proxymap's connections, LMTP.
    warm = spread(data.warm, args.warmup)
    sender.send(warm)
    wait_delivered(server, data.warm, args.warmup, 120)
    position = server.log_position()
    timeout = 300 + args.messages / 5
    monitor.begin()
    start = time.time()
    sender.send(spread(data.targets, args.messages))
    accepted = time.time()
    wait_delivered(server, data.targets, args.messages, timeout)
    end = server.last_delivery(data.targets)
    window = monitor.end()
    return Round(
        mode,
        args.messages,
        end - start,
        accepted - start,
        window,
        server.problems_since(position),
    )


# --- IMAP logins --------------------------------------------------------------


class LoginFailed(BenchError):
    pass


def imap_login(port: int, user: str, password: str) -> float:
    """One LOGIN/LOGOUT over a fresh connection; returns its duration."""
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        reader = sock.makefile("rb")

        def until(tag: bytes) -> bytes:
            while True:
                line = reader.readline()
                if not line:
                    raise LoginFailed(f"{user}: connection closed")
                if line.startswith(tag + b" "):
                    return line

        greeting = reader.readline()
        if not greeting.startswith(b"* OK"):
            raise LoginFailed(f"greeting: {greeting!r}")
        quoted = password.replace("\\", "\\\\").replace('"', '\\"')
        sock.sendall(f'a LOGIN "{user}" "{quoted}"\r\n'.encode())
        line = until(b"a")
        if not line.startswith(b"a OK"):
            raise LoginFailed(f"{user}: {line.decode(errors='replace').strip()}")
        sock.sendall(b"b LOGOUT\r\n")
        until(b"b")
    return time.perf_counter() - started


@dataclass
class LoginRun:
    logins: int
    seconds: float
    latencies: list[float]
    window: Window

    @property
    def rate(self) -> float:
        return self.logins / self.seconds


def login_round(
    server: MailServer,
    monitor: Monitor,
    users: Sequence[tuple[str, str]],
    clients: int,
    seconds: float,
) -> LoginRun:
    """``clients`` threads log in and out, each user in turn, for ``seconds``;
    logins in flight at the deadline are finished and counted."""
    cycle = iter(users * (1 + int(seconds * 1000) // max(len(users), 1)))
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []
    finished: list[float] = []

    def client() -> None:
        while time.perf_counter() < deadline:
            with lock:
                user = next(cycle, None)
            if user is None:
                return
            latency = imap_login(server.ports.imap, user[0], PASSWORD)
            with lock:
                latencies.append(latency)
                finished.append(time.perf_counter())

    monitor.begin()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        for future in [pool.submit(client) for _ in range(clients)]:
            future.result()
    window = monitor.end()
    elapsed = (max(finished) if finished else time.perf_counter()) - started
    return LoginRun(len(latencies), elapsed, latencies, window)


def verify_round(stored: str, seconds: float) -> tuple[int, float]:
    """verify_password in a loop in this process for ``seconds``."""
    from domains.passwords import verify_password

    count = 0
    started = time.perf_counter()
    deadline = started + seconds
    while count == 0 or time.perf_counter() < deadline:
        if not verify_password(PASSWORD, stored):
            raise BenchError("verify_password refused the seeded password")
        count += 1
    return count, time.perf_counter() - started


# --- Report ----------------------------------------------------------------------


def pooled(rounds: Sequence[Round], mode: str) -> float:
    chosen = [r for r in rounds if r.mode == mode]
    return sum(r.messages for r in chosen) / sum(r.seconds for r in chosen)


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def print_cpu(
    title: str, windows: dict[str, list[Window]], per: dict[str, int]
) -> dict[str, Counter[str]]:
    """CPU ms per unit of work, per process group, summed over each mode's
    windows (clock ticks: 10 ms resolution, fine over many messages).
    Returns CPU seconds per group and mode."""
    totals: dict[str, Counter[str]] = {}
    for mode, chosen in windows.items():
        totals[mode] = Counter()
        for window in chosen:
            totals[mode].update(window.cpu())
    groups = sorted(
        {g for c in totals.values() for g in c},
        key=lambda g: -max(totals[m][g] / per[m] for m in totals),
    )
    modes = list(windows)
    header = f"{title:<32}" + "".join(f"{m:>14}" for m in modes)
    log(header)
    log("-" * len(header))
    for group in groups:
        values = [totals[m][group] * 1000 / per[m] for m in modes]
        if max(values) < 0.005:
            continue
        log(f"{group:<32}" + "".join(f"{v:14.3f}" for v in values))
    for label, wanted in (("server total", True), ("client and bench", False)):
        values = [
            sum(v for g, v in totals[m].items() if is_server(g) == wanted)
            * 1000
            / per[m]
            for m in modes
        ]
        log(f"{label:<32}" + "".join(f"{v:14.3f}" for v in values))
    return totals


def is_server(group: str) -> bool:
    """Postfix, Dovecot and PostgreSQL; not smtp-source, IMAP clients, monitor."""
    return group.startswith(("postfix", "dovecot", "postgres"))


def report_delivery(rounds: Sequence[Round], args: argparse.Namespace) -> bool:
    log("")
    log(
        f"Delivery: {args.messages} messages of {args.size} bytes to "
        f"{args.mailboxes} mailboxes per round, {args.concurrency} parallel SMTP "
        f"sessions (smtp-source), LMTP to Dovecot"
    )
    header = (
        f"{'round':>5} {'maps':<7} {'accepted/s':>10} {'delivered/s':>11} "
        f"{'seconds':>8} {'postfix conns':>13} {'opened':>6} {'proxymaps':>9} "
        f"{'dovecot conns':>13} {'problems':>8}"
    )
    log(header)
    log("-" * len(header))
    for n, r in enumerate(rounds, 1):
        w = r.window
        log(
            f"{n:>5} {r.mode:<7} {r.messages / r.accept_seconds:10.1f} "
            f"{r.rate:11.1f} {r.seconds:8.2f} {w.peak['postfix']:>13} "
            f"{len(w.opened.get('postfix', ())):>6} {w.peak_proxymap:>9} "
            f"{w.peak['dovecot']:>13} {len(r.problems):>8}"
        )
    sql_rate, static_rate = pooled(rounds, SQL), pooled(rounds, STATIC)
    ratio = sql_rate / static_rate
    # Each SQL round against the static round next to it (ABBA pairs).
    pairs = [
        (a.rate / b.rate) if a.mode == SQL else (b.rate / a.rate)
        for a, b in zip(rounds[::2], rounds[1::2], strict=True)
    ]
    sql_rounds = [r for r in rounds if r.mode == SQL]
    static_rounds = [r for r in rounds if r.mode == STATIC]
    peak_pf = max(r.window.peak["postfix"] for r in sql_rounds)
    peak_dv = max(r.window.peak["dovecot"] for r in rounds)
    static_pf = max(r.window.peak["postfix"] for r in static_rounds)
    ratio_ok = ratio >= RATIO_TARGET
    conns_ok = peak_pf <= POSTFIX_CONNECTION_LIMIT
    log("")
    rows = [
        ("pooled delivered/s, proxy:pgsql: maps", f"{sql_rate:.1f}", ""),
        ("pooled delivered/s, static hash: maps", f"{static_rate:.1f}", ""),
        (
            "ratio SQL / static",
            f"{ratio:.3f}",
            f"target >= {RATIO_TARGET}: {'PASS' if ratio_ok else 'FAIL'}",
        ),
        (
            "ratio per ABBA pair (min / median / max)",
            f"{min(pairs):.3f} / {statistics.median(pairs):.3f} / {max(pairs):.3f}",
            "",
        ),
        (
            "geometric mean of the pair ratios",
            f"{statistics.geometric_mean(pairs):.3f}",
            "(not dominated by the slowest rounds)",
        ),
        (
            "peak Postfix DB connections (SQL rounds)",
            f"{peak_pf}",
            f"target <= {POSTFIX_CONNECTION_LIMIT}: {'PASS' if conns_ok else 'FAIL'}",
        ),
        ("peak Postfix DB connections (static rounds)", f"{static_pf}", ""),
        ("peak Dovecot DB connections (all rounds)", f"{peak_dv}", ""),
        (
            "Postfix DB connections opened per SQL round",
            "/".join(str(len(r.window.opened.get("postfix", ()))) for r in sql_rounds),
            "",
        ),
    ]
    for label, value, verdict in rows:
        log(f"  {label:<44} {value:>22}  {verdict}")
    if max(pairs) / min(pairs) > 1.3:
        log(
            "\n  NOISY: the pair ratios differ by more than 30%; the machine's load "
            "changed during the run.\n  The pooled ratio weighs slow rounds most; "
            "compare the CPU-bound estimate below and rerun."
        )
    problems = [p for r in rounds for p in r.problems]
    if problems:
        log(f"\n{len(problems)} log lines with warnings or errors, first ones:")
        for line in problems[:8]:
            log(f"  {line[:200]}")
    log("")
    windows = {
        SQL: [r.window for r in sql_rounds],
        STATIC: [r.window for r in static_rounds],
    }
    per = {
        SQL: sum(r.messages for r in sql_rounds),
        STATIC: sum(r.messages for r in static_rounds),
    }
    totals = print_cpu("CPU ms per delivered message", windows, per)
    cpu = {
        m: sum(v for g, v in totals[m].items() if is_server(g)) * 1000 / per[m]
        for m in totals
    }
    lookup_cpu = (
        totals[SQL]["postfix/proxymap"] + totals[SQL]["postgres (postfix)"]
    ) * 1000
    log("")
    log(
        f"  {'Postfix SQL lookups (proxymap + its backends)':<44} "
        f"{lookup_cpu / per[SQL]:>10.3f} ms CPU per message"
    )
    log(
        f"  {'CPU-bound estimate of the ratio':<44} "
        f"{cpu[STATIC] / cpu[SQL]:>10.3f} (server CPU per message, static / SQL)"
    )
    return ratio_ok and conns_ok


def report_trace(first: Sequence[Lookup], rest: Sequence[Lookup]) -> None:
    log("")
    log(
        "Postfix lookups for one message through the SQL maps "
        "(proxymap -v, trivial-rewrite -v):"
    )
    header = (
        f"{'#':>3}  {'table':<24} {'asked by':<13} {'key':<40} "
        f"{'SQL sent':>8} {'rows':>4}"
    )
    log(header)
    log("-" * len(header))
    for n, item in enumerate(first, 1):
        sent, rows = ("yes", str(item.rows)) if item.queried else ("no", "")
        log(
            f"{n:>3}  {item.table:<24} {item.via:<13} {item.key[:40]:<40} "
            f"{sent:>8} {rows:>4}"
        )
    queries = sum(item.queried for item in first)
    log(f"  {len(first)} lookups, {queries} SQL queries for one message")
    if rest:
        per = TRACE_MESSAGES
        queries = sum(item.queried for item in rest)
        by_table = Counter(f"{i.table} ({i.via})" for i in rest if i.queried)
        log(
            f"  next {per} messages (smtpd's resolve cache warm): "
            f"{len(rest) / per:.2f} lookups, {queries / per:.2f} SQL queries "
            "per message"
        )
        log(
            "    "
            + ", ".join(f"{table} {n / per:.2f}" for table, n in by_table.most_common())
        )


def report_logins(
    runs: Sequence[LoginRun],
    verifies: Sequence[tuple[int, float]],
    stored: str,
    args: argparse.Namespace,
) -> None:
    from domains.passwords import hash_scheme

    scheme = hash_scheme(stored)
    params = ""
    if scheme.startswith("ARGON2"):
        import argon2

        p = argon2.extract_parameters(stored.partition("}")[2])
        params = f" (m={p.memory_cost} KiB, t={p.time_cost}, p={p.parallelism})"
    logins = sum(r.logins for r in runs)
    login_rate = logins / sum(r.seconds for r in runs)
    verify_rate = sum(n for n, _ in verifies) / sum(s for _, s in verifies)
    latencies = [x for r in runs for x in r.latencies]
    log("")
    log(
        f"IMAP logins: {args.imap_clients} parallel clients, LOGIN/LOGOUT on a new "
        f"connection each, password scheme {scheme}{params}"
    )
    header = f"{'round':>5} {'IMAP logins/s':>14} {'verify_password/s':>18}"
    log(header)
    log("-" * len(header))
    for n, (r, (count, seconds)) in enumerate(zip(runs, verifies, strict=True), 1):
        log(f"{n:>5} {r.rate:14.1f} {count / seconds:18.1f}")
    rows = [
        ("pooled IMAP logins/s (Dovecot, SQL passdb)", f"{login_rate:.1f}"),
        ("pooled verify_password/s (one process)", f"{verify_rate:.1f}"),
        ("ratio logins / verifications", f"{login_rate / verify_rate:.3f}"),
        (
            "login latency p50 / p99 ms",
            f"{percentile(latencies, 50) * 1000:.1f} / "
            f"{percentile(latencies, 99) * 1000:.1f}",
        ),
        ("one verify_password ms", f"{1000 / verify_rate:.1f}"),
        (
            "peak Dovecot DB connections",
            f"{max(r.window.peak['dovecot'] for r in runs)}",
        ),
    ]
    log("")
    for label, value in rows:
        log(f"  {label:<44} {value:>22}")
    log("")
    print_cpu(
        "CPU ms per IMAP login",
        {"logins": [r.window for r in runs]},
        {"logins": logins},
    )


# --- Main -------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    lookups.add_database_arguments(parser, DEFAULT_URL)
    parser.add_argument(
        "--messages", type=int, default=1000, help="messages per round (%(default)s)"
    )
    parser.add_argument(
        "--mailboxes",
        type=int,
        default=100,
        help="recipient mailboxes, spread over the domains (%(default)s)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=4,
        help="rounds per mode, alternating SQL/static in ABBA order (%(default)s)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=10,
        help="parallel SMTP sessions (smtp-source processes) (%(default)s)",
    )
    parser.add_argument(
        "--size", type=int, default=4096, help="message body bytes (%(default)s)"
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=100,
        help="untimed messages after each switch of maps (%(default)s)",
    )
    parser.add_argument(
        "--imap-clients", type=int, default=8, help="parallel IMAP clients"
    )
    parser.add_argument(
        "--imap-seconds",
        type=float,
        default=8,
        help="seconds of IMAP logins per round (%(default)s)",
    )
    parser.add_argument(
        "--imap-rounds", type=int, default=3, help="IMAP and verify rounds"
    )
    parser.add_argument(
        "--verify-seconds",
        type=float,
        default=3,
        help="seconds of verify_password calls per round (%(default)s)",
    )
    parser.add_argument(
        "--proxymap-processes",
        type=int,
        help="override MAILPANEL_POSTFIX_PROXYMAP_PROCESSES (proxymap maxproc)",
    )
    parser.add_argument(
        "--db-socket",
        metavar="DIR",
        help="let Postfix and Dovecot reach PostgreSQL over its Unix socket in DIR "
        "(what MAILPANEL_MAIL_DB_HOST=DIR renders) instead of 127.0.0.1",
    )
    parser.add_argument(
        "--dovecot-db-connections",
        type=int,
        help="override MAILPANEL_DOVECOT_DB_CONNECTIONS (Dovecot's maxconns)",
    )
    parser.add_argument(
        "--postfix-extra",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="add a main.cf parameter that mailserver does not render (repeatable)",
    )
    parser.add_argument(
        "--smtpd-option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="add '-o NAME=VALUE' to the port 25 smtpd in master.cf (repeatable)",
    )
    parser.add_argument(
        "--master-extra",
        action="append",
        default=[],
        metavar="LINE",
        help="append a line to master.cf; \\n starts a new line (repeatable)",
    )
    parser.add_argument(
        "--dovecot-extra",
        action="append",
        default=[],
        metavar="LINE",
        help="add a line to Dovecot's local.conf (repeatable)",
    )
    parser.add_argument(
        "--lookup-query",
        action="append",
        default=[],
        metavar="NAME=QUERY",
        help="try another query in pgsql-NAME.cf for the SQL rounds (repeatable)",
    )
    parser.add_argument(
        "--static-map",
        action="append",
        default=[],
        metavar="NAME",
        help="use the static hash: file for map NAME in the SQL rounds too, e.g. "
        "virtual-mailbox-domains (repeatable)",
    )
    parser.add_argument(
        "--no-trace",
        action="store_true",
        help="skip listing the lookups of one message (proxymap -v)",
    )
    parser.add_argument(
        "--skip-delivery", action="store_true", help="only measure IMAP logins"
    )
    parser.add_argument(
        "--skip-logins", action="store_true", help="only measure delivery"
    )
    parser.add_argument(
        "--keep-workdir",
        action="store_true",
        help="keep the temporary directory (configuration, logs, Maildirs)",
    )
    parser.add_argument("--seed", default="mailpanel", help="random seed")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.messages < 1 or args.mailboxes < 1:
        parser.error("--rounds, --messages and --mailboxes must be positive")
    return args


def smtp_source_binary() -> str:
    for candidate in (shutil.which("smtp-source"), "/usr/sbin/smtp-source"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise BenchError(
        "smtp-source is missing; Debian ships it in the postfix package "
        "(apt-get install --reinstall postfix)"
    )


def preflight() -> str:
    if os.geteuid() != 0:
        raise BenchError("run as root: Postfix and Dovecot are started as root")
    missing = [
        name
        for name in ("postfix", "postconf", "postmap", "dovecot", "doveconf", "doveadm")
        if shutil.which(name) is None
    ]
    if missing:
        raise BenchError(f"not installed: {', '.join(missing)}")
    return smtp_source_binary()


def interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print(machine_report())
    url: str = args.database_url
    lookups.guard(url)
    started = time.perf_counter()
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupt)
    try:
        binary = preflight()
    except BenchError as exc:
        print(f"delivery bench: {exc}", file=sys.stderr)
        return 2
    lookups.setup_django(url)
    with contextlib.ExitStack() as cleanup:
        try:
            return measure(args, url, binary, cleanup, started)
        except BenchError as exc:
            print(f"\ndelivery bench failed: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("\ninterrupted, cleaning up", file=sys.stderr)
            return 130
    return 2  # pragma: no cover (ExitStack does not swallow)


def measure(
    args: argparse.Namespace,
    url: str,
    binary: str,
    cleanup: contextlib.ExitStack,
    started: float,
) -> int:
    if not args.keep:
        cleanup.callback(drop_quietly, url)
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    log(f"{os.cpu_count()} CPUs, load average {load}")
    prepare_database(url, args.keep, args.seed)
    data = None
    for attempt in range(1, 4):
        server = MailServer(url, args)
        if not args.keep_workdir:
            cleanup.callback(server.remove)
        else:
            cleanup.callback(log, f"Kept {server.workdir}")
        cleanup.callback(server.stop)
        log(f"Rendering into {server.workdir}")
        server.render()
        data = data or pick_data(url, args)
        log("Dumping the views into static hash: maps")
        server.build_static_maps()
        server.override_queries(args.lookup_query)
        server.write_main_cf(SQL)
        try:
            server.start()
            break
        except PortTaken as exc:
            # free_port() only proposes ports; another program took one since.
            server.stop()
            if attempt == 3:
                raise
            log(f"  {exc}; starting again on other ports")
    assert server.postfix_master is not None and server.dovecot_master is not None
    monitor = Monitor(url, server.postfix_master, server.dovecot_master)
    cleanup.callback(monitor.close)
    sender = Sender(binary, server.ports.smtp, args.size, args.concurrency)
    cleanup.callback(sender.kill)
    log(
        f"Postfix and Dovecot running (SMTP 127.0.0.1:{server.ports.smtp}, "
        f"IMAP 127.0.0.1:{server.ports.imap}); proxymap processes "
        f"{server.config.proxymap_processes}, Dovecot maxconns "
        f"{server.config.dovecot_db_connections}"
    )

    passed = True
    if not args.skip_delivery:
        rounds: list[Round] = []
        order = [
            mode
            for i in range(args.rounds)
            for mode in ((SQL, STATIC) if i % 2 == 0 else (STATIC, SQL))
        ]
        for n, mode in enumerate(order, 1):
            result = delivery_round(server, monitor, sender, data, mode, args)
            rounds.append(result)
            log(
                f"  round {n}/{len(order)} {mode:<6} {result.rate:8.1f} delivered/s "
                f"({result.seconds:.2f} s, Postfix DB connections "
                f"{result.window.peak['postfix']})"
            )
        trace = (
            None
            if args.no_trace
            else server.trace_lookups(sender, data.targets, TRACE_MESSAGES)
        )
        passed = report_delivery(rounds, args)
        if trace:
            report_trace(*trace)

    if not args.skip_logins:
        log("\nMeasuring IMAP logins")
        stored = data.logins[0][1]
        if not all(stored == s for _, s in data.logins):
            log("  (the sampled mailboxes do not share one hash; using the first)")
        verify_round(stored, 0.2)
        login_round(server, monitor, data.logins, args.imap_clients, 1)
        runs: list[LoginRun] = []
        verifies: list[tuple[int, float]] = []
        for n in range(args.imap_rounds):
            runs.append(
                login_round(
                    server, monitor, data.logins, args.imap_clients, args.imap_seconds
                )
            )
            verifies.append(verify_round(stored, args.verify_seconds))
            log(
                f"  round {n + 1}/{args.imap_rounds} {runs[-1].rate:8.1f} logins/s, "
                f"{verifies[-1][0] / verifies[-1][1]:6.1f} verify_password/s"
            )
        report_logins(runs, verifies, stored, args)

    log(f"\nTotal run time {time.perf_counter() - started:.1f} s")
    log(machine_report())
    return 0 if passed else 1


def drop_quietly(url: str) -> None:
    try:
        lookups.drop_database(url)
    except psycopg.Error as exc:
        print(f"could not drop the bench database: {exc}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())

"""Real Redis brokers and real Celery worker processes, started once.

Nothing here uses eager mode: the test process publishes to a private
redis-server on a free loopback port (never the machine's shared one on
6379), and two workers, ``host_a`` and ``host_b``, consume their own queues
as two mail hosts would. ``host_a`` serves the session's real Postfix and
Dovecot (tests/conftest.py's ``mailserver``); ``host_b`` renders into its own
directory, where nothing runs.

The workers reach the test database, so the tests that use them commit
their rows (``transactional_db``). Each flush between tests empties the
MailHost table too; the workers' heartbeat (every second here) registers
them again, and ``hosts`` waits for that.

Registering makes ``host_a`` apply the configuration rendered from settings
to the session's Postfix and Dovecot, so these tests run last (pytest's
directory order) and leave that instance reconfigured.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import unavailable

ROOT = Path(__file__).resolve().parents[2]
CELERY = Path(sys.executable).with_name("celery")


def _free_port() -> int:
    from tests.mailserver.support import free_port

    return free_port()


def wait_until(check, timeout: float = 90.0, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)


@dataclass
class RedisServer:
    """A private redis-server that a test may stop and start again."""

    workdir: Path
    port: int = field(default_factory=_free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis-server is not installed (scripts/bootstrap.sh)")
        log = open(self.workdir / f"redis-{self.port}.log", "a")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=log,
            stderr=log,
        )
        if not wait_until(self.answers, timeout=10):
            pytest.fail(f"redis-server on {self.port} did not start")

    def answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


def use_broker(url: str) -> None:
    """Point this process's Celery app at ``url``."""
    from mailpanel.celery import app

    app.conf.broker_url = url
    # Only forgotten, not closed: kombu keeps one pool per URL process-wide,
    # and the next use_broker() back to a URL gets that same pool again.
    app._pool = None
    app.amqp._producer_pool = None


@dataclass
class Worker:
    name: str
    process: subprocess.Popen
    log: Path
    settings: dict

    def logs(self) -> str:
        return self.log.read_text()[-8000:] if self.log.exists() else ""

    def stop(self) -> None:
        # TERM: a warm shutdown; the pool is solo, so nothing else to reap.
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def _env_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def backup_settings(root: Path) -> dict:
    """A fresh restic repository, a vmail root and scratch space under ``root``:
    settings for this process (``settings`` fixture) and a worker alike."""
    from tests.backups.conftest import PASSPHRASE

    restic = shutil.which("restic")
    if restic is None:
        unavailable("restic is not installed (scripts/backups-install.sh)")
    if shutil.which("pg_dump") is None:
        unavailable("pg_dump is not installed (Debian: postgresql-client)")
    config = root / "etc-postfix"
    config.mkdir(parents=True)
    (config / "main.cf").write_text("myhostname = mail.example.org\n")
    (root / "vmail").mkdir()
    (root / "scratch").mkdir()
    return {
        "MAILPANEL_VMAIL_ROOT": str(root / "vmail"),
        "MAILPANEL_BACKUP_REPOSITORY": str(root / "repo"),
        "MAILPANEL_BACKUP_PASSPHRASE": PASSPHRASE,
        "MAILPANEL_BACKUP_RESTIC": restic,
        "MAILPANEL_BACKUP_CONFIG_PATHS": [str(config)],
        "MAILPANEL_BACKUP_SCRATCH_DIR": str(root / "scratch"),
        "MAILPANEL_BACKUP_CACHE_DIR": str(root / "cache"),
        "MAILPANEL_BACKUP_HOST": "mailpanel-test",
    }


def start_worker(
    *,
    name: str,
    broker: str,
    workdir: Path,
    settings: dict,
    database_url: str,
    mail_host: bool = True,
) -> Worker:
    """A worker for mail host ``name``, or with ``mail_host=False`` a general
    one on the default queue (backups, relay tests), registering no host."""
    env = dict(os.environ)
    env.pop("MAILPANEL_MAIL_HOST", None)
    env.update({key: _env_value(value) for key, value in settings.items()})
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=broker,
        MAILPANEL_MAIL_HOST_HEARTBEAT="1",
        MAILPANEL_MAILDIR_SETTLE_SECONDS="0.5",
        PYTHONUNBUFFERED="1",
    )
    if mail_host:
        env["MAILPANEL_MAIL_HOST"] = name
    log = workdir / f"worker-{name}.log"
    output = open(log, "a")  # noqa: SIM115
    process = subprocess.Popen(
        [
            str(CELERY),
            "-A",
            "mailpanel",
            "worker",
            "--pool",
            "solo",
            "-Q",
            name if mail_host else "celery",
            "-n",
            f"{name}@%h",
            "-l",
            "info",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=env,
        stdout=output,
        stderr=output,
    )
    return Worker(name=name, process=process, log=log, settings=settings)


def database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    return (
        f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
        f"/{db['NAME']}"
    )


@pytest.fixture(scope="session")
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="mailpanel-workers-"))
    path.chmod(0o755)
    yield path
    if not os.environ.get("MAILPANEL_KEEP_E2E_DIR"):
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def broker(workdir) -> Iterator[RedisServer]:
    server = RedisServer(workdir)
    server.start()
    use_broker(server.url)
    yield server
    server.stop()


@dataclass
class Workers:
    a: Worker
    b: Worker
    broker: RedisServer
    mailserver: object

    def logs(self) -> str:
        return f"--- {self.a.name}\n{self.a.logs()}\n--- {self.b.name}\n{self.b.logs()}"


@pytest.fixture(scope="session")
def workers(mailserver, broker, workdir, django_db_setup) -> Iterator[Workers]:
    """host_a for the real mail server, host_b with a configuration of its own."""
    suffix = uuid.uuid4().hex[:6]
    b_dir = workdir / "host-b"
    b_settings = dict(
        mailserver.settings,
        MAILPANEL_POSTFIX_DIR=str(b_dir / "postfix"),
        MAILPANEL_DOVECOT_DIR=str(b_dir / "dovecot"),
        MAILPANEL_POSTFIX_QUEUE_DIR=str(b_dir / "queue"),
        MAILPANEL_POSTFIX_DATA_DIR=str(b_dir / "data"),
        MAILPANEL_DOVECOT_BASE_DIR=str(b_dir / "run"),
        MAILPANEL_VMAIL_ROOT=str(b_dir / "vmail"),
        MAILPANEL_POSTFIX_LOG_FILE=str(b_dir / "postfix.log"),
        MAILPANEL_DOVECOT_LOG_PATH=str(b_dir / "dovecot.log"),
        MAILPANEL_RSPAMD_DIR=str(b_dir / "rspamd"),
        MAILPANEL_RSPAMD_STATE_DIR=str(b_dir / "rspamd-state"),
        MAILPANEL_RSPAMD_LOG_FILE=str(b_dir / "rspamd.log"),
    )
    a_settings = dict(
        mailserver.settings,
        # As the session's instance: Postfix through its cuttable link.
        MAILPANEL_MAIL_DB_HOST="127.0.0.1",
        MAILPANEL_MAIL_DB_PORT=mailserver.postfix_link.port,
    )
    url = database_url()
    a = start_worker(
        name=f"host_a_{suffix}",
        broker=broker.url,
        workdir=workdir,
        settings=a_settings,
        database_url=url,
    )
    b = start_worker(
        name=f"host_b_{suffix}",
        broker=broker.url,
        workdir=workdir,
        settings=b_settings,
        database_url=url,
    )
    running = Workers(a=a, b=b, broker=broker, mailserver=mailserver)
    try:
        yield running
    finally:
        a.stop()
        b.stop()


@pytest.fixture
def hosts(workers, transactional_db):
    """Both hosts registered (again, after the last test's flush)."""
    from mailserver.models import MailHost

    names = {workers.a.name, workers.b.name}

    def registered():
        return set(MailHost.objects.values_list("name", flat=True)) >= names

    # A loaded machine may take a while to start two Django processes.
    assert wait_until(registered, timeout=180), "never registered\n" + workers.logs()
    return {host.name: host for host in MailHost.objects.filter(name__in=names)}

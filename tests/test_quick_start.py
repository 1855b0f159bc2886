"""The README's first command, as a new user runs it: `make run` on a clean copy.

A checkout that ever ran `make test` has the development requirements in its
venv, which once hid a runtime import that requirements.txt did not satisfy
(kombu's Redis transport needs ``packaging``): `make run` died on a fresh
machine while every test passed. So this test copies the tree without its
venv, runs `make run` there (a venv from requirements.txt alone, migrations,
the demo admin, then the web server, worker and beat of scripts/run.sh) on a
free port against a private Redis, and checks that the admin takes the printed
password, the worker answers a ping over the broker and beat has started and
written its schedule; then stops them all. In the same venv it runs
`pip check` and imports every module and task of the project
(tests/runtime_imports.py).

It is one test because `make run` is one command; the venv build makes it the
slowest single test (about 20 s with pip's cache).
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import unavailable
from tests.mailserver.support import free_port
from tests.workers.conftest import RedisServer, wait_until

ROOT = Path(__file__).resolve().parents[1]
# pip install with a warm cache takes seconds; a cold one may take minutes.
START_TIMEOUT = 600


def tracked_files(root: Path) -> list[str]:
    """The tree as a clean clone would have it, plus files not yet committed."""
    result = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        check=True,
    )
    return [name for name in result.stdout.decode().split("\0") if name]


def copy_tree(source: Path, target: Path) -> None:
    for name in tracked_files(source):
        path = source / name
        # A file deleted in the work tree but still in the index, or the
        # symlinked venv of a worktree: neither belongs to a clean copy.
        if not path.is_file() or path.is_symlink():
            continue
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target / name)


def clean_environment(**extra: str) -> dict[str, str]:
    """A new user's shell: none of pytest's or Django's variables."""
    env = {
        key: os.environ[key]
        for key in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PIP_INDEX_URL")
        if key in os.environ
    }
    env.update(extra)
    return env


class QuickStart:
    """`make run` in a copy of the tree, and what it printed."""

    def __init__(self, tree: Path, port: int, broker: str) -> None:
        self.tree = tree
        self.port = port
        # DEBUG as `make run` exports it, for the commands run beside it.
        self.env = clean_environment(CELERY_BROKER_URL=broker, DEBUG="true")
        self.log = tree / "make-run.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                ["make", "run", "HOST=127.0.0.1", f"PORT={self.port}"],
                cwd=self.tree,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own group, so that stop() reaches make and run.sh.
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def answers(self) -> bool:
        try:
            # Always http://127.0.0.1: no file: or custom scheme can reach here.
            with urllib.request.urlopen(self.url("/admin/login/"), timeout=2) as page:  # noqa: S310
                return page.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def venv(self, program: str) -> str:
        return str(self.tree / ".venv" / "bin" / program)

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            list(args),
            cwd=self.tree,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )

    def stop(self) -> None:
        """Ctrl-C as a user would; then make sure nothing of the tree lives on."""
        if self.running():
            os.killpg(self.process.pid, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=30)
        # run.sh puts its children in sessions of their own: find any left
        # behind by the directory they run in.
        for pid in processes_under(self.tree):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.running():
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def processes_under(directory: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if Path(os.readlink(entry / "cwd")).is_relative_to(directory):
                found.append(int(entry.name))
    return found


def admin_login(quick_start: QuickStart, username: str, password: str) -> str:
    """Log in through the admin's form; return the path the login ended on."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(quick_start.url("/admin/login/"), timeout=10) as page:
        form = page.read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
    data = urllib.parse.urlencode(
        {
            "csrfmiddlewaretoken": token,
            "username": username,
            "password": password,
            "next": "/admin/",
        }
    ).encode()
    request = urllib.request.Request(  # noqa: S310
        quick_start.url("/admin/login/"),
        data=data,
        headers={"Referer": quick_start.url("/admin/login/")},
    )
    with opener.open(request, timeout=10) as page:
        return urllib.parse.urlsplit(page.url).path


@pytest.fixture
def quick_start(tmp_path) -> Iterator[QuickStart]:
    for program in ("make", "git", "redis-server"):
        if shutil.which(program) is None:
            unavailable(f"{program} is not installed (scripts/bootstrap.sh)")
    if not (ROOT / ".git").exists():
        unavailable("the quick start test copies a git checkout")
    tree = tmp_path / "mailpanel"
    copy_tree(ROOT, tree)
    redis = RedisServer(workdir=tmp_path)
    redis.start()
    started = QuickStart(tree, free_port(), redis.url)
    try:
        yield started
    finally:
        started.stop()
        redis.stop()


def test_it_serves_the_admin_with_a_worker_and_beat_from_requirements_txt_alone(
    quick_start,
):
    quick_start.start()
    assert wait_until(
        lambda: quick_start.answers() or not quick_start.running(),
        timeout=START_TIMEOUT,
        interval=0.5,
    )
    assert quick_start.answers(), quick_start.output()[-4000:]

    # The venv holds requirements.txt alone, and it is consistent.
    installed = {p.name for p in (quick_start.tree / ".venv").glob(".installed-*")}
    assert installed == {".installed-requirements"}
    check = quick_start.run(quick_start.venv("pip"), "check")
    assert check.returncode == 0, check.stdout + check.stderr

    # The demo admin logs in with the password the command printed.
    password = re.search(r"Password: (\S+)", quick_start.output()).group(1)
    assert admin_login(quick_start, "admin", password) == "/admin/"

    # The worker answers over the broker.
    pings: list[subprocess.CompletedProcess] = []

    def pong() -> bool:
        ping = quick_start.run(
            quick_start.venv("celery"),
            "-A",
            "mailpanel",
            "inspect",
            "ping",
            "--timeout",
            "2",
        )
        pings.append(ping)
        return ping.returncode == 0 and "pong" in ping.stdout

    assert wait_until(pong, timeout=120, interval=1), (
        pings[-1].stdout + pings[-1].stderr[-2000:] + quick_start.output()[-4000:]
    )

    # Every module and task imports, the broker's transport included.
    env = dict(quick_start.env, DJANGO_SETTINGS_MODULE="mailpanel.settings")
    imports = subprocess.run(
        [quick_start.venv("python"), "-m", "tests.runtime_imports"],
        cwd=quick_start.tree,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert imports.returncode == 0, imports.stderr[-4000:]
    report = json.loads(imports.stdout)
    assert report["transport"] == "kombu.transport.redis"
    assert "mailserver.tasks.mailhost_reload_task" in report["tasks"]

    # Beat started its scheduler: it wrote the settings' schedule to the
    # database (migrations alone write none of these rows).
    def scheduled() -> set[str]:
        database = quick_start.tree / "var" / "mailpanel.sqlite3"
        with contextlib.closing(sqlite3.connect(database)) as connection:
            rows = connection.execute(
                "SELECT name FROM django_celery_beat_periodictask"
            )
            return {name for (name,) in rows}

    assert wait_until(
        lambda: set(report["beat_schedule"]) <= scheduled(), timeout=60
    ), quick_start.output()[-4000:]
    assert "beat: Starting..." in quick_start.output()

    # And all three are still up: run.sh stops everything when one exits.
    time.sleep(2)
    assert quick_start.running(), quick_start.output()[-4000:]

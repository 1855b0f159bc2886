"""Each fault fails the run with a readable reason and one mail to the admins,
and every earlier backup stays intact and restorable."""

import fcntl
import os
import signal
import socket
import subprocess
import time

import pytest
from django.core import mail

from backups import services
from backups.models import BackupRun, State
from tests.backups.conftest import PASSPHRASE, message, restic
from tests.conftest import unavailable


@pytest.fixture
def earlier(backup_env):
    """A good backup taken before the fault."""
    backup_env.vmail.deliver("alice@example.org", message("before the fault"))
    run = services.backup_run()
    assert run.state == State.SUCCEEDED, run.error
    return run


def assert_failed_once(run, reason):
    assert run.state == State.FAILED
    assert reason in run.error
    assert "\n" not in run.error
    assert run.finished is not None
    assert len(mail.outbox) == 1
    assert reason in mail.outbox[0].subject
    assert mail.outbox[0].to == ["admin@example.org"]


def assert_still_restorable(backup_env, run, settings):
    settings.MAILPANEL_BACKUP_REPOSITORY = str(backup_env.repository)
    settings.MAILPANEL_BACKUP_PASSPHRASE = PASSPHRASE
    drill = services.restore_drill(run=run)
    assert drill.state == State.SUCCEEDED, drill.error
    assert drill.messages_checked >= 1
    check = restic(backup_env, "check", "--read-data")
    assert check.returncode == 0, check.stdout + check.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_it_fails_on_an_unreachable_repository(backup_env, earlier, settings):
    settings.MAILPANEL_BACKUP_REPOSITORY = f"rest:http://127.0.0.1:{free_port()}/"

    run = services.backup_run()

    assert_failed_once(run, "repository unreachable")
    assert "connection refused" in run.error
    assert_still_restorable(backup_env, earlier, settings)


def test_it_fails_on_a_missing_repository_without_creating_one(
    backup_env, earlier, settings, tmp_path
):
    settings.MAILPANEL_BACKUP_REPOSITORY = str(tmp_path / "not-mounted")

    run = services.backup_run()

    assert_failed_once(run, "repository unreachable")
    assert not (tmp_path / "not-mounted").exists()


def test_it_fails_on_a_wrong_passphrase(backup_env, earlier, settings):
    settings.MAILPANEL_BACKUP_PASSPHRASE = "not the passphrase"

    run = services.backup_run()

    assert_failed_once(run, "wrong passphrase")
    assert "not the passphrase" not in run.error
    assert_still_restorable(backup_env, earlier, settings)


@pytest.fixture
def tiny_disk(tmp_path):
    """A 12 MiB tmpfs: a real ENOSPC, not a simulated one."""
    mountpoint = tmp_path / "tiny"
    mountpoint.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        unavailable(f"cannot mount a tmpfs for the disk-full test: {result.stderr}")
    yield mountpoint
    subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def test_it_fails_when_the_disk_is_full(backup_env, settings, tiny_disk):
    settings.MAILPANEL_BACKUP_REPOSITORY = str(tiny_disk / "repo")
    backup_env.repository = tiny_disk / "repo"
    assert services.backup_init()
    backup_env.vmail.deliver("alice@example.org", message("small"))
    earlier = services.backup_run()
    assert earlier.state == State.SUCCEEDED, earlier.error
    # 60 MiB: restic is still reading when its first 16 MiB pack fails to
    # fit. Had it read everything by then, restic 0.14 would wait for ever
    # in its final flush (the uploaders are gone; Archiver.Snapshot flushes
    # with the outer context), and the run would end at the timeout instead.
    for _ in range(120):
        backup_env.vmail.deliver("bob@example.org", os.urandom(512 * 1024))

    run = services.backup_run()

    assert_failed_once(run, "no space left")
    assert_still_restorable(backup_env, earlier, settings)


def test_it_fails_while_another_process_holds_the_repository(
    backup_env, earlier, settings
):
    # restic check takes an exclusive lock; stopped, it holds it like a slow
    # check or prune of another machine would.
    env = {
        **os.environ,
        "RESTIC_REPOSITORY": str(backup_env.repository),
        "RESTIC_PASSWORD": PASSPHRASE,
    }
    holder = subprocess.Popen(
        ["restic", "check", "--read-data"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    locks = backup_env.repository / "locks"
    deadline = time.monotonic() + 30
    while not [n for n in os.listdir(locks) if "-tmp-" not in n]:
        assert holder.poll() is None and time.monotonic() < deadline
        time.sleep(0.0005)
    os.kill(holder.pid, signal.SIGSTOP)
    try:
        run = services.backup_run()
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()

    assert_failed_once(run, "repository locked by another process")
    # Its lock is stale now: the next run clears it and succeeds.
    again = services.backup_run()
    assert again.state == State.SUCCEEDED, again.error
    assert_still_restorable(backup_env, earlier, settings)


def test_it_fails_while_another_run_is_going_on_this_host(backup_env, earlier):
    from backups import runs

    with runs.lock_path().open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        run = services.backup_run()

    assert_failed_once(run, "another backup run")


def test_it_recovers_after_the_tool_is_killed_mid_run(
    backup_env, earlier, settings, monkeypatch
):
    monkeypatch.setenv("RESTIC_PROGRESS_FPS", "50")
    for _ in range(60):
        backup_env.vmail.deliver("bob@example.org", os.urandom(512 * 1024))
    killed = []

    def kill_midway(run, report):
        if not killed and 0 < report.bytes_done < report.total_bytes:
            os.kill(run.tool_pid, signal.SIGKILL)
            killed.append(report)

    run = services.backup_run(on_progress=kill_midway)

    assert killed, "restic finished before it could be killed"
    assert_failed_once(run, "killed (SIGKILL)")
    assert os.listdir(backup_env.repository / "locks"), "expected a stale lock"
    again = services.backup_run()
    assert again.state == State.SUCCEEDED, again.error
    # The check needs an exclusive lock: the stale one must be gone.
    checked = services.backup_check()
    assert checked.state == State.SUCCEEDED, checked.error
    assert_still_restorable(backup_env, earlier, settings)
    assert len(mail.outbox) == 1


def test_it_fails_a_run_whose_worker_died(backup_env):
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = BackupRun.objects.create(
        state=State.RUNNING, hostname=socket.gethostname(), pid=dead.pid
    )
    backup_env.vmail.deliver("alice@example.org", message("hello"))

    run = services.backup_run()

    assert run.state == State.SUCCEEDED, run.error
    stale.refresh_from_db()
    assert stale.state == State.FAILED
    assert "interrupted" in stale.error
    assert len(mail.outbox) == 1

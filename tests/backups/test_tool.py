from pathlib import Path

import pytest

from backups import tool


@pytest.mark.parametrize(
    ("stderr", "kind"),
    [
        ("Fatal: wrong password or no key found\n", tool.WrongPassphrase),
        (
            "unable to create lock in backend: repository is already locked "
            "exclusively by PID 1 on vm by root\n",
            tool.RepositoryLocked,
        ),
        (
            "Fatal: unable to save snapshot: write /r/data/x: no space left on device",
            tool.DiskFull,
        ),
        (
            # No unlock can help here.
            "Fatal: unable to create lock in backend: Save(<lock/1a2b>): write "
            "/r/locks/1a2b-tmp-3: no space left on device\n",
            tool.DiskFull,
        ),
        (
            "Fatal: unable to open config file: stat /r/config: no such file\n"
            "Is there a repository at the following location?\n/r\n",
            tool.RepositoryUnreachable,
        ),
        ("Fatal: something else\n", tool.ToolError),
    ],
)
def test_it_classifies_the_tools_failures(stderr, kind):
    error = tool.classify(1, stderr)

    assert type(error) is kind
    assert "\n" not in str(error)


def test_it_names_the_signal_that_killed_the_tool():
    assert str(tool.classify(-9, "")) == (
        "the backup tool was killed (SIGKILL) before it finished"
    )


def test_it_says_when_the_tool_is_missing():
    restic = tool.Restic(repository="/x", passphrase="p", binary="no-such-restic")

    with pytest.raises(tool.ToolMissing, match="scripts/backups-install.sh"):
        restic.version()


def test_it_stops_a_tool_that_hangs(tmp_path):
    script = tmp_path / "hangs"
    script.write_text("#!/bin/sh\nsleep 30\n")
    script.chmod(0o755)
    restic = tool.Restic(
        repository="/x", passphrase="p", binary=str(script), timeout=0.5
    )

    with pytest.raises(tool.ToolTimeout, match="within 0.5 s"):
        restic.version()


def test_it_says_what_a_stopped_tool_was_doing(tmp_path):
    script = tmp_path / "retries"
    script.write_text(
        "#!/bin/sh\necho 'open repository' >&2\n"
        "echo 'Save(<data/ab>) returned error, retrying after 1s: EIO' >&2\n"
        "sleep 30\n"
    )
    script.chmod(0o755)
    restic = tool.Restic(
        repository="/x", passphrase="p", binary=str(script), timeout=0.5
    )

    with pytest.raises(tool.ToolTimeout) as raised:
        restic.version()

    assert str(raised.value) == (
        "the backup tool did not finish within 0.5 s and was stopped; it last "
        "said: Save(<data/ab>) returned error, retrying after 1s: EIO"
    )


def test_it_keeps_the_passphrase_off_the_command_line(tmp_path):
    script = tmp_path / "show"
    script.write_text('#!/bin/sh\necho "$@ $RESTIC_PASSWORD"\n')
    script.chmod(0o755)
    restic = tool.Restic(repository="/x", passphrase="s3cret", binary=str(script))

    assert restic.version() == "version s3cret"


@pytest.mark.parametrize(
    ("repository", "local"),
    [
        ("/srv/backup/mail", "/srv/backup/mail"),
        ("local:/srv/backup/mail", "/srv/backup/mail"),
        ("/srv/odd:name", "/srv/odd:name"),
        ("sftp:user@host:/srv/mail", None),
        ("s3:s3.example.com/bucket", None),
        ("rest:https://host:8000/", None),
        ("rclone:remote:mail", None),
    ],
)
def test_it_knows_which_repositories_are_on_this_machine(repository, local):
    path = tool.Restic(repository=repository, passphrase="x").local_path()

    assert (str(path) if path else None) == local


def test_it_sizes_a_local_repository_from_its_files_without_the_tool(tmp_path):
    (tmp_path / "data" / "ab").mkdir(parents=True)
    (tmp_path / "data" / "ab" / "pack").write_bytes(b"x" * 1000)
    (tmp_path / "config").write_bytes(b"y" * 24)
    repository = tool.Restic(
        repository=str(tmp_path), passphrase="x", binary="/nonexistent/restic"
    )

    assert repository.local_size() == 1024
    assert tool.Restic(repository="sftp:h:/r", passphrase="x").local_size() is None


def recording_restic(tmp_path, repository: str) -> tuple[tool.Restic, Path]:
    """A restic that only writes down how it was called."""
    calls = tmp_path / "calls"
    script = tmp_path / "restic"
    script.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    script.chmod(0o755)
    return tool.Restic(repository=repository, passphrase="x", binary=str(script)), calls


def called(calls: Path) -> list[str]:
    return calls.read_text().splitlines() if calls.exists() else []


def test_it_unlocks_a_local_repository_only_when_it_holds_a_lock(tmp_path):
    repository = tmp_path / "repo"
    (repository / "locks").mkdir(parents=True)
    restic, calls = recording_restic(tmp_path, str(repository))

    assert restic.unlock_if_locked() is False
    (repository / "locks" / "5f1e-tmp-123").write_text("being written")
    assert restic.unlock_if_locked() is False
    assert called(calls) == []

    (repository / "locks" / "5f1e").write_text("a lock")
    assert restic.unlock_if_locked() is True
    assert called(calls) == ["unlock"]


def test_it_leaves_a_missing_repository_to_the_command_that_needs_it(tmp_path):
    restic, calls = recording_restic(tmp_path, str(tmp_path / "not-mounted"))

    assert restic.unlock_if_locked() is False
    assert called(calls) == []
    assert not (tmp_path / "not-mounted").exists()


def test_it_always_unlocks_a_remote_repository(tmp_path):
    restic, calls = recording_restic(tmp_path, "rest:http://127.0.0.1:1/")

    assert restic.unlock_if_locked() is True
    assert called(calls) == ["unlock"]

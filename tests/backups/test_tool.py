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


def test_it_keeps_the_passphrase_off_the_command_line(tmp_path):
    script = tmp_path / "show"
    script.write_text('#!/bin/sh\necho "$@ $RESTIC_PASSWORD"\n')
    script.chmod(0o755)
    restic = tool.Restic(repository="/x", passphrase="s3cret", binary=str(script))

    assert restic.version() == "version s3cret"


def restic_at(repository: str) -> tool.Restic:
    return tool.Restic(repository=repository, passphrase="x")


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
    path = restic_at(repository).local_path()
    assert (str(path) if path else None) == local


def test_a_local_repositorys_size_is_its_files_sizes_without_running_the_tool(
    tmp_path,
):
    (tmp_path / "data" / "ab").mkdir(parents=True)
    (tmp_path / "data" / "ab" / "pack").write_bytes(b"x" * 1000)
    (tmp_path / "config").write_bytes(b"y" * 24)
    repository = tool.Restic(
        repository=str(tmp_path), passphrase="x", binary="/nonexistent/restic"
    )

    assert repository.size() == 1024


class Recorder(tool.Restic):
    def __init__(self) -> None:
        super().__init__(repository="/r", passphrase="x")
        self.calls: list[str] = []

    def unlock(self) -> None:
        self.calls.append("unlock")


def test_it_unlocks_only_when_a_lock_is_in_the_way_and_tries_once_more():
    restic = Recorder()
    attempts = iter([tool.RepositoryLocked("locked by PID 1"), "done"])

    def action() -> str:
        restic.calls.append("action")
        outcome = next(attempts)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert restic.clearing_stale_locks(lambda: "done") == "done"
    assert restic.calls == []
    assert restic.clearing_stale_locks(action) == "done"
    assert restic.calls == ["action", "unlock", "action"]


def test_a_live_lock_fails_the_second_attempt_too():
    restic = Recorder()

    def action() -> str:
        raise tool.RepositoryLocked("locked exclusively by PID 1")

    with pytest.raises(tool.RepositoryLocked):
        restic.clearing_stale_locks(action)
    assert restic.calls == ["unlock"]

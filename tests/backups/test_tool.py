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

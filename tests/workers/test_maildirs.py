"""Moving, archiving and removing maildirs on disk (no database)."""

from __future__ import annotations

import pytest

from mailserver import maildirs


def _message(root, relative: str, name: str, body: str = "x") -> None:
    path = root / relative / "Maildir" / "new" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)


def test_it_moves_a_maildir_in_one_rename(tmp_path):
    _message(tmp_path, "example.org/old", "1.msg")
    maildirs.maildir_move(root=tmp_path, source="example.org/old", target="x.org/new")
    assert (tmp_path / "x.org/new/Maildir/new/1.msg").exists()
    assert not (tmp_path / "example.org").exists()


def test_it_merges_into_a_target_that_a_delivery_created_first(tmp_path):
    _message(tmp_path, "example.org/old", "1.msg")
    (tmp_path / "example.org/old/Maildir/dovecot-uidlist").write_text("old")
    _message(tmp_path, "example.org/new", "2.msg")
    (tmp_path / "example.org/new/Maildir/dovecot-uidlist").write_text("new")
    merged = maildirs.maildir_move(
        root=tmp_path, source="example.org/old", target="example.org/new"
    )
    assert merged == 1
    new = tmp_path / "example.org/new/Maildir"
    assert sorted(p.name for p in (new / "new").iterdir()) == ["1.msg", "2.msg"]
    assert (new / "dovecot-uidlist").read_text() == "new"
    assert not (tmp_path / "example.org/old").exists()


def test_it_is_done_when_run_again(tmp_path):
    _message(tmp_path, "example.org/old", "1.msg")
    for _ in range(2):
        maildirs.maildir_move(
            root=tmp_path, source="example.org/old", target="example.org/new"
        )
    assert (tmp_path / "example.org/new/Maildir/new/1.msg").exists()


def test_it_archives_with_a_timestamp(tmp_path):
    _message(tmp_path / "vmail", "example.org/a", "1.msg")
    archived = maildirs.maildir_archive(
        root=tmp_path / "vmail", source="example.org/a", archive=tmp_path / "archive"
    )
    assert archived is not None and (archived / "Maildir/new/1.msg").exists()
    assert archived.parent == tmp_path / "archive" / "example.org"
    assert not (tmp_path / "vmail/example.org").exists()
    assert (
        maildirs.maildir_archive(
            root=tmp_path / "vmail", source="example.org/a", archive=tmp_path
        )
        is None
    )


def test_it_removes_when_asked(tmp_path):
    _message(tmp_path, "example.org/a", "1.msg")
    assert maildirs.maildir_remove(root=tmp_path, source="example.org/a")
    assert not (tmp_path / "example.org/a").exists()


@pytest.mark.parametrize("relative", ["../etc", "", "example.org/../.."])
def test_it_refuses_paths_outside_the_root(tmp_path, relative):
    with pytest.raises(maildirs.MaildirError):
        maildirs.maildir_remove(root=tmp_path / "vmail", source=relative)


@pytest.mark.parametrize(
    "source",
    [
        # What deleting the mailboxes "alice/", "/" and an absolute local
        # part stored: each reached a directory that was not theirs.
        "example.org/alice/",
        "example.org//",
        "example.org//var/vmail/example.org/alice",
        "example.org/../example.org/alice",
    ],
)
@pytest.mark.parametrize("action", ["archive", "remove"])
def test_it_leaves_another_mailbox_alone_whatever_a_job_says(tmp_path, source, action):
    root = tmp_path / "vmail"
    _message(root, "example.org/alice", "1.msg")
    with pytest.raises(maildirs.MaildirError):
        if action == "archive":
            maildirs.maildir_archive(
                root=root, source=source, archive=tmp_path / "archive"
            )
        else:
            maildirs.maildir_remove(root=root, source=source)
    assert (root / "example.org/alice/Maildir/new/1.msg").exists()
    assert not (tmp_path / "archive").exists()


@pytest.mark.parametrize(
    ("source", "target"),
    [("example.org/alice/", "example.org/bob"), ("example.org/bob", "example.org/")],
)
def test_it_moves_nothing_to_or_from_a_path_that_is_not_a_mailbox(
    tmp_path, source, target
):
    _message(tmp_path, "example.org/alice", "1.msg")
    _message(tmp_path, "example.org/bob", "2.msg")
    with pytest.raises(maildirs.MaildirError):
        maildirs.maildir_move(root=tmp_path, source=source, target=target)
    assert (tmp_path / "example.org/alice/Maildir/new/1.msg").exists()
    assert (tmp_path / "example.org/bob/Maildir/new/2.msg").exists()

"""The frozen maildirs kept between runs: brought up to date with the live
ones, touching only what changed."""

import os
import subprocess
from pathlib import Path

import pytest

from backups import mirror
from tests.backups.conftest import Vmail, message
from tests.conftest import unavailable

ALICE = "alice@example.org"


@pytest.fixture
def vmail(tmp_path):
    root = tmp_path / "vmail"
    root.mkdir()
    return Vmail(root)


def files(root):
    """Every file below ``root``: relative path -> (inode, content)."""
    found = {}
    for top, _dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(top, name)
            found[os.path.relpath(path, root)] = (
                os.lstat(path).st_ino,
                Path(path).read_bytes(),
            )
    return found


def dirs(root):
    return sorted(os.path.relpath(top, root) for top, _dirs, _names in os.walk(root))


def test_it_mirrors_a_home_with_links(vmail, tmp_path):
    inbox = vmail.deliver(ALICE, message("one"))
    sent = vmail.deliver(ALICE, message("two"), folder="Sent", sub="cur")
    (vmail.maildir(ALICE) / "tmp" / "half-delivered").write_text("not mail yet")
    (vmail.home(ALICE) / "sieve").mkdir()
    (vmail.home(ALICE) / "sieve" / "main.sieve").write_text("keep;\n")
    target = tmp_path / "mirror" / "example.org" / "alice"

    mirror.sync(vmail.home(ALICE), target)

    assert files(target) == {
        f"Maildir/new/{inbox.name}": (inbox.stat().st_ino, inbox.read_bytes()),
        f"Maildir/.Sent/cur/{sent.name}": (sent.stat().st_ino, sent.read_bytes()),
        "sieve/main.sieve": (
            (vmail.home(ALICE) / "sieve" / "main.sieve").stat().st_ino,
            b"keep;\n",
        ),
    }
    assert dirs(target) == dirs(vmail.home(ALICE))


def test_it_leaves_unchanged_messages_and_folders_as_they_were(vmail, tmp_path):
    for n in range(5):
        vmail.deliver(ALICE, message(f"m{n}"), sub="cur")
    target = tmp_path / "mirror" / "alice"
    mirror.sync(vmail.home(ALICE), target)
    before = {
        path: os.lstat(path) for path in [*target.rglob("*"), target] if path.exists()
    }

    mirror.sync(vmail.home(ALICE), target)

    after = {path: os.lstat(path) for path in before}
    # Neither a new link (a message's ctime and link count) nor a new mode or
    # entry (a directory's ctime and mtime): restic sees the same metadata.
    assert {
        path: (info.st_ino, info.st_ctime_ns, info.st_mtime_ns, info.st_nlink)
        for path, info in after.items()
    } == {
        path: (info.st_ino, info.st_ctime_ns, info.st_mtime_ns, info.st_nlink)
        for path, info in before.items()
    }


def test_it_follows_deliveries_flag_changes_and_expunges(vmail, tmp_path):
    read = vmail.deliver(ALICE, message("read"))
    flagged = vmail.deliver(ALICE, message("flagged"), sub="cur")
    expunged = vmail.deliver(ALICE, message("expunged"), sub="cur")
    target = tmp_path / "mirror" / "alice"
    mirror.sync(vmail.home(ALICE), target)
    cur = vmail.maildir(ALICE) / "cur"
    os.rename(read, cur / f"{read.name}:2,S")
    os.rename(flagged, cur / f"{flagged.name.split(':')[0]}:2,FS")
    expunged.unlink()
    new = vmail.deliver(ALICE, message("new"))

    mirror.sync(vmail.home(ALICE), target)

    assert files(target) == files(vmail.home(ALICE))
    assert sorted(files(target)) == sorted(
        [
            f"Maildir/cur/{read.name}:2,S",
            f"Maildir/cur/{flagged.name.split(':')[0]}:2,FS",
            f"Maildir/new/{new.name}",
        ]
    )


def test_it_takes_a_replaced_file_again(vmail, tmp_path):
    index = vmail.home(ALICE) / "Maildir" / "dovecot.index"
    index.parent.mkdir(parents=True)
    index.write_text("old index")
    target = tmp_path / "mirror" / "alice"
    mirror.sync(vmail.home(ALICE), target)
    # Dovecot writes a new index beside the old one and renames it over it.
    index.with_name("dovecot.index.tmp").write_text("new index")
    os.rename(index.with_name("dovecot.index.tmp"), index)

    mirror.sync(vmail.home(ALICE), target)

    assert (target / "Maildir" / "dovecot.index").read_text() == "new index"
    assert files(target) == files(vmail.home(ALICE))


def test_it_drops_folders_and_mailboxes_that_are_gone(vmail, tmp_path):
    vmail.deliver(ALICE, message("inbox"))
    vmail.deliver(ALICE, message("old"), folder="Old")
    vmail.deliver("bob@example.org", message("bob's"))
    vmail.deliver("carol@example.net", message("carol's"))
    root = tmp_path / "mirror"
    for address in (ALICE, "bob@example.org", "carol@example.net"):
        local, _, domain = address.partition("@")
        mirror.sync(vmail.home(address), root / domain / local)
    for gone in (vmail.maildir(ALICE) / ".Old", vmail.home("bob@example.org")):
        subprocess.run(["rm", "-r", str(gone)], check=True)
    subprocess.run(["rm", "-r", str(vmail.root / "example.net")], check=True)

    mirror.sync(vmail.home(ALICE), root / "example.org" / "alice")
    mirror.prune(root, {"example.org/alice"})

    alice = [
        "example.org/alice" + ("" if d == "." else f"/{d}")
        for d in dirs(vmail.home(ALICE))
    ]
    assert dirs(root) == sorted([".", "example.org", *alice])
    assert files(root / "example.org" / "alice") == files(vmail.home(ALICE))


def test_it_keeps_tmp_empty(vmail, tmp_path):
    vmail.deliver(ALICE, message("one"))
    target = tmp_path / "mirror" / "alice"
    mirror.sync(vmail.home(ALICE), target)
    (target / "Maildir" / "tmp" / "stray").write_text("left by an old version")
    (vmail.maildir(ALICE) / "tmp" / "arriving").write_text("half a message")

    mirror.sync(vmail.home(ALICE), target)

    assert list((target / "Maildir" / "tmp").iterdir()) == []


def test_it_sets_a_directorys_mode_when_it_changed(vmail, tmp_path):
    vmail.deliver(ALICE, message("one"))
    target = tmp_path / "mirror" / "alice"
    mirror.sync(vmail.home(ALICE), target)
    os.chmod(vmail.maildir(ALICE), 0o700)

    mirror.sync(vmail.home(ALICE), target)

    assert (target / "Maildir").stat().st_mode & 0o777 == 0o700


def test_it_keeps_one_message_seen_in_new_and_then_in_cur(vmail, tmp_path):
    """A message read between the listings of new/ and cur/ is one message."""
    delivered = vmail.deliver(ALICE, message("read meanwhile"))
    target = tmp_path / "mirror" / "alice"
    mirror.sync(vmail.home(ALICE), target)
    # As if cur/ were listed after the move: the mirror holds it in new/ from
    # the last run, and cur/ now has the same inode under the read name.
    read = vmail.maildir(ALICE) / "cur" / f"{delivered.name}:2,S"
    os.link(delivered, read)

    mirror.sync(vmail.home(ALICE), target)

    mirrored = [p for p in (target / "Maildir").rglob("*") if p.is_file()]
    assert [p.relative_to(target).as_posix() for p in mirrored] == [
        f"Maildir/new/{delivered.name}"
    ]


@pytest.fixture
def other_file_system(tmp_path):
    mountpoint = tmp_path / "other"
    mountpoint.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        unavailable(f"cannot mount a tmpfs for the copy test: {result.stderr}")
    yield mountpoint
    subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def test_it_copies_across_file_systems_and_keeps_unchanged_copies(
    vmail, other_file_system
):
    kept = vmail.deliver(ALICE, message("kept"), sub="cur")
    target = other_file_system / "alice"
    mirror.sync(vmail.home(ALICE), target)
    copy = target / "Maildir" / "cur" / kept.name
    first = os.lstat(copy)
    new = vmail.deliver(ALICE, message("new"))

    mirror.sync(vmail.home(ALICE), target)

    assert os.lstat(copy).st_ctime_ns == first.st_ctime_ns
    assert {path: content for path, (_, content) in files(target).items()} == {
        path: content for path, (_, content) in files(vmail.home(ALICE)).items()
    }
    assert (target / "Maildir" / "new" / new.name).read_bytes() == new.read_bytes()

"""The message checksums a backup keeps between runs: used while the file is
the one they were computed from, computed again as soon as it is not."""

import hashlib
import json
import os

from backups.checksums import ChecksumCache


def deliver(directory, name, content: bytes):
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_bytes(content)
    return path


def sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def next_run(tmp_path, cache: ChecksumCache) -> ChecksumCache:
    """Save as a run does, load as the next run does."""
    cache.save(tmp_path / "checksums.json")
    return ChecksumCache.load(tmp_path / "checksums.json")


def test_it_hashes_a_message_once_and_reuses_the_checksum(tmp_path):
    path = deliver(tmp_path / "cur", "1.M1P1.host:2,S", b"hello")
    first = ChecksumCache()
    assert first.digest(str(path)) == sha(b"hello")
    assert (first.hashed, first.reused) == (1, 0)

    second = next_run(tmp_path, first)

    assert second.digest(str(path)) == sha(b"hello")
    assert (second.hashed, second.reused) == (0, 1)


def test_it_keeps_the_checksum_through_a_flag_change(tmp_path):
    path = deliver(tmp_path / "new", "1.M1P1.host", b"hello")
    cache = ChecksumCache()
    cache.digest(str(path))
    # Reading the message moves it to cur/; flagging it renames it again.
    (tmp_path / "cur").mkdir()
    renamed = tmp_path / "cur" / "1.M1P1.host:2,FS"
    os.rename(path, renamed)

    cache = next_run(tmp_path, cache)

    assert cache.digest(str(renamed)) == sha(b"hello")
    assert (cache.hashed, cache.reused) == (0, 1)


def test_it_hashes_again_a_renamed_message_whose_mtime_changed(tmp_path):
    path = deliver(tmp_path / "cur", "1.M1P1.host:2,S", b"hello")
    cache = ChecksumCache()
    cache.digest(str(path))
    renamed = path.with_name("1.M1P1.host:2,FS")
    os.rename(path, renamed)
    info = renamed.stat()
    os.utime(renamed, ns=(info.st_atime_ns, info.st_mtime_ns + 1))

    cache = next_run(tmp_path, cache)

    assert cache.digest(str(renamed)) == sha(b"hello")
    assert (cache.hashed, cache.reused) == (1, 0)


def test_it_hashes_again_a_file_of_the_same_name_and_another_size(tmp_path):
    path = deliver(tmp_path / "cur", "dovecot.index.log", b"one")
    cache = ChecksumCache()
    cache.digest(str(path))
    info = path.stat()
    with path.open("ab") as handle:
        handle.write(b" two")
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))

    cache = next_run(tmp_path, cache)

    assert cache.digest(str(path)) == sha(b"one two")
    assert cache.hashed == 1


def test_it_hashes_again_a_file_of_the_same_name_size_and_mtime_but_new_inode(
    tmp_path,
):
    path = deliver(tmp_path / "cur", "1.M1P1.host:2,S", b"hello")
    cache = ChecksumCache()
    cache.digest(str(path))
    info = path.stat()
    # Another file put in its place, as a restore or a copy would.
    replacement = deliver(tmp_path, "replacement", b"HELLO")
    os.utime(replacement, ns=(info.st_atime_ns, info.st_mtime_ns))
    os.rename(replacement, path)
    assert path.stat().st_ino != info.st_ino

    cache = next_run(tmp_path, cache)

    assert cache.digest(str(path)) == sha(b"HELLO")
    assert cache.hashed == 1


def test_it_forgets_a_message_that_is_gone(tmp_path):
    kept = deliver(tmp_path / "cur", "1.M1P1.host:2,S", b"kept")
    gone = deliver(tmp_path / "cur", "2.M2P1.host:2,S", b"expunged")
    cache = ChecksumCache()
    cache.digest(str(kept))
    cache.digest(str(gone))
    gone.unlink()
    cache = next_run(tmp_path, cache)
    cache.digest(str(kept))

    cache.save(tmp_path / "checksums.json")

    saved = json.loads((tmp_path / "checksums.json").read_text())["entries"]
    assert [entry[2] for entry in saved.values()] == [sha(b"kept")]


def test_it_starts_afresh_from_a_damaged_file(tmp_path):
    path = deliver(tmp_path / "cur", "1.M1P1.host:2,S", b"hello")
    (tmp_path / "checksums.json").write_text('{"format": 1, "entries": {"x"')

    cache = ChecksumCache.load(tmp_path / "checksums.json")

    assert cache.digest(str(path)) == sha(b"hello")
    assert cache.hashed == 1


def test_it_writes_the_file_for_its_owner_only(tmp_path):
    cache = ChecksumCache()
    cache.digest(str(deliver(tmp_path / "cur", "1.M1P1.host", b"x")))

    cache.save(tmp_path / "checksums.json")

    assert (tmp_path / "checksums.json").stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == ["checksums.json"]

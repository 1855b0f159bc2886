"""dovecot_flush_auth_cache(): the address reaches doveadm as an address.

A local part may start with "-" (docs/addresses.md), and doveadm's
``auth cache flush`` takes options (``-a SOCKET``): the name must never be
read as one. A fake doveadm on PATH records its arguments.
"""

import os
import stat

from mailserver.services import dovecot_flush_auth_cache


def test_a_name_starting_with_a_dash_is_never_an_option(tmp_path, monkeypatch):
    record = tmp_path / "argv"
    fake = tmp_path / "bin" / "doveadm"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {record}\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")

    assert dovecot_flush_auth_cache("-asock@example.org", tmp_path / "dovecot.conf")

    argv = record.read_text().splitlines()
    assert argv[-2:] == ["--", "-asock@example.org"]

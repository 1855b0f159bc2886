"""relay_credentials_write(): the root-only table Postfix reads passwords from."""

import stat
import subprocess

import pytest
from cryptography.fernet import Fernet
from django.conf import settings

from relays.services import relay_credentials_write
from tests.relays.conftest import make_relay

pytestmark = pytest.mark.django_db


def lookup(path, key: str) -> str:
    result = subprocess.run(
        ["postmap", "-c", settings.MAILPANEL_POSTFIX_DIR, "-q", key, f"hash:{path}"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip()


def test_it_writes_one_entry_per_relay_keyed_by_its_next_hop(tmp_path, caplog):
    caplog.set_level("DEBUG")
    make_relay(name="a", host="a.isp.example", username="me@a", password="Pass-A:1")
    make_relay(
        name="b",
        host="b.isp.example",
        port=465,
        username="me@b",
        security="tls",
        password="Pass-B",
    )
    path = tmp_path / "relay" / "credentials"

    written = relay_credentials_write(path=path)

    assert written.relays == ["a", "b"] and not written.failed
    assert lookup(path, "[a.isp.example]:587") == "me@a:Pass-A:1"
    assert lookup(path, "[b.isp.example]:465") == "me@b:Pass-B"
    db = path.with_name("credentials.db")
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    # Only the database: no plain-text source file, no temporary left over.
    assert sorted(p.name for p in path.parent.iterdir()) == ["credentials.db"]
    assert "Pass-A" not in caplog.text and "Pass-B" not in caplog.text


def test_it_leaves_out_a_relay_it_cannot_decrypt(tmp_path, settings):
    make_relay(name="old", host="old.isp.example", username="u", password="Old-Pass")
    settings.MAILPANEL_SECRET_ENCRYPTION_KEY = Fernet.generate_key().decode()
    make_relay(name="new", host="new.isp.example", username="u", password="New-Pass")

    written = relay_credentials_write(path=tmp_path / "credentials")

    assert written.relays == ["new"]
    assert "cannot be decrypted" in written.failed["old"]
    assert lookup(tmp_path / "credentials", "[old.isp.example]:587") == ""


def test_it_empties_the_table_when_the_last_relay_goes(tmp_path):
    relay = make_relay(name="a", host="a.isp.example", username="u")
    relay_credentials_write(path=tmp_path / "credentials")
    relay.delete()
    relay_credentials_write(path=tmp_path / "credentials")
    assert lookup(tmp_path / "credentials", "[a.isp.example]:587") == ""

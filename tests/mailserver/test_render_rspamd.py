"""rspamd's configuration: what is rendered, and how apply writes and checks it.

The apply tests run the real ``rspamadm configtest`` (with ``postfix check``
and ``doveconf``) on throw-away directories; the keys are made with
``dkim.keys`` and never touch the database.
"""

from __future__ import annotations

import base64
import dataclasses
import grp
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from dkim import keys as key_material
from dkim.services import SigningKey
from mailserver import rspamd, services
from mailserver.render import RenderError, render_rspamd
from mailserver.render.rspamd import notice_domain, rspamd_private_key


def signing_key(domain: str, selector: str, algorithm: str) -> SigningKey:
    material = key_material.generate(algorithm=algorithm)
    return SigningKey(domain, selector, algorithm, material.private_pem)


@pytest.fixture(scope="module")
def keys() -> list[SigningKey]:
    return [
        signing_key("example.org", "mp202612r", "rsa"),
        signing_key("example.org", "mp202612e", "ed25519"),
        signing_key("example.net", "mp202612e", "ed25519"),
    ]


def test_it_lists_every_key_of_each_domain_with_its_file(config, keys):
    files = render_rspamd(config, keys)
    conf = files["rspamd.conf"]

    assert sorted(files) == [
        "dkim/example.net.mp202612e.key",
        "dkim/example.org.mp202612e.key",
        "dkim/example.org.mp202612r.key",
        "rspamd.conf",
    ]
    org = conf[conf.index('"example.org" {') :]
    org = org[: org.index("];")]
    assert (
        'selector = "mp202612r"; path = "$CURDIR/dkim/example.org.mp202612r.key"' in org
    )
    assert (
        'selector = "mp202612e"; path = "$CURDIR/dkim/example.org.mp202612e.key"' in org
    )
    socket = f"{config.postfix_queue_dir}/private/rspamd-milter"
    assert f'bind_socket = "{socket} mode=0660 owner=_rspamd group=postfix"' in conf
    assert "milter = yes" in conf
    assert "sign_condition = <<EOD" in conf
    # No private key in the configuration file itself.
    assert "PRIVATE KEY" not in conf
    assert files["dkim/example.org.mp202612r.key"] == keys[0].private_pem


def test_ed25519_keys_are_written_as_rspamd_reads_them(keys):
    ed = keys[1]
    private = serialization.load_pem_private_key(ed.private_pem.encode(), None)
    raw = base64.b64decode(rspamd_private_key(ed))

    seed = private.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    public = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    assert raw == seed + public  # libsodium's secret key: seed, then public key


def test_notices_are_signed_by_the_hosted_domain_of_the_host_name():
    domains = ["example.org", "mail.example.org", "example.net"]
    assert notice_domain("mx.mail.example.org", domains) == "mail.example.org"
    assert notice_domain("mail.example.org", domains) == "mail.example.org"
    assert notice_domain("MX1.Example.NET", domains) == "example.net"
    assert notice_domain("mail.example.com", domains) is None
    assert notice_domain("notexample.org", domains) is None


def test_the_notice_domain_is_rendered_when_it_has_keys(config, keys):
    assert (
        'mailpanel_notice_domain = "example.org"'
        not in render_rspamd(config, keys)["rspamd.conf"]
    )
    named = dataclasses.replace(config, hostname="mx.example.org")
    conf = render_rspamd(named, keys)["rspamd.conf"]
    assert 'mailpanel_notice_domain = "example.org"' in conf
    assert 'mailpanel_hostname = "mx.example.org"' in conf


@pytest.mark.parametrize("name", ["../../etc/passwd", "Example.org", "a/b", "x$y"])
def test_a_key_name_that_is_not_a_dns_name_is_refused(config, name):
    bad = [
        SigningKey(name, "sel", "rsa", "pem"),
        SigningKey("example.org", name, "rsa", "pem"),
    ]
    for key in bad:
        with pytest.raises(RenderError):
            render_rspamd(config, [key])


def _tree(directory: Path) -> dict[str, str]:
    return {
        str(path.relative_to(directory)): path.read_text()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def test_apply_writes_keys_for_rspamd_only_and_drops_inactive_ones(
    daemon_tools, config, keys, db
):
    services.mailserver_apply(config, reload=False, keys=keys)
    key_dir = config.rspamd_dir / "dkim"
    group = grp.getgrnam(rspamd.RSPAMD_GROUP).gr_gid
    assert stat.S_IMODE(key_dir.stat().st_mode) == 0o750
    assert key_dir.stat().st_gid == group
    for path in key_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o640, path
        assert (path.stat().st_uid, path.stat().st_gid) == (0, group), path

    services.mailserver_apply(config, reload=False, keys=keys[2:])

    assert sorted(p.name for p in key_dir.iterdir()) == ["example.net.mp202612e.key"]
    conf = (config.rspamd_dir / "rspamd.conf").read_text()
    assert "example.org" not in conf
    # The previous configuration is kept, its keys are not.
    previous = Path(f"{config.rspamd_dir}.mailpanel-previous")
    assert (previous / "rspamd.conf").exists()
    assert not (previous / "dkim").exists()


@pytest.mark.parametrize(
    "breakage",
    [
        # A syntax error: configtest exits 1.
        lambda conf: conf + "worker {{ broken\n",
        # A signing policy that does not compile: configtest exits 0 and only
        # prints the error, which must count all the same.
        lambda conf: conf.replace("local opts =", "local opts = = nil"),
    ],
    ids=["syntax", "lua"],
)
def test_apply_keeps_the_running_config_when_configtest_fails(
    daemon_tools, config, keys, monkeypatch, db, breakage
):
    services.mailserver_apply(config, reload=False, keys=keys)
    live = [config.postfix_dir, config.dovecot_dir, config.rspamd_dir]
    before = [_tree(directory) for directory in live]

    def broken(config, keys):
        files = render_rspamd(config, keys)
        files["rspamd.conf"] = breakage(files["rspamd.conf"])
        return files

    monkeypatch.setattr(rspamd, "render_rspamd", broken)
    with pytest.raises(services.MailServerError, match="configtest"):
        services.mailserver_apply(config, reload=False, keys=keys[:1])

    assert [_tree(directory) for directory in live] == before
    staged = [
        p.name
        for p in config.rspamd_dir.parent.iterdir()
        if ".mailpanel-" in p.name and not p.name.endswith(".mailpanel-previous")
    ]
    assert staged == []


def test_apply_without_signing_writes_no_rspamd_configuration(daemon_tools, config, db):
    off = dataclasses.replace(config, rspamd_milter_listen="")
    services.mailserver_apply(off, reload=False)
    assert not config.rspamd_dir.exists()
    assert (config.postfix_dir / "main.cf").exists()


def test_the_state_directory_belongs_to_rspamd(daemon_tools, config, keys, db):
    services.mailserver_apply(config, reload=False, keys=keys)
    state = Path(config.rspamd_state_dir)
    assert stat.S_IMODE(state.stat().st_mode) == 0o750
    if os.geteuid() == 0:
        assert state.owner() == rspamd.RSPAMD_USER


def test_apply_refuses_keys_it_cannot_decrypt(daemon_tools, config, db, settings):
    from cryptography.fernet import Fernet

    from dkim.services import dkim_key_activate, dkim_key_generate
    from domains.models import Domain

    settings.MAILPANEL_SECRET_ENCRYPTION_KEY = Fernet.generate_key().decode()
    domain = Domain.objects.create(name="example.org")
    for key in dkim_key_generate(domain=domain, algorithms=["ed25519"]):
        dkim_key_activate(key=key, force=True)
    services.mailserver_apply(config, reload=False)
    before = _tree(config.rspamd_dir)
    assert any(name.startswith("dkim/example.org.") for name in before)

    # The encryption key was replaced: the active key cannot be read.
    settings.MAILPANEL_SECRET_ENCRYPTION_KEY = Fernet.generate_key().decode()
    with pytest.raises(services.MailServerError, match="DKIM keys"):
        services.mailserver_apply(config, reload=False)

    assert _tree(config.rspamd_dir) == before

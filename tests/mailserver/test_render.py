"""What `mailserver render|apply` writes, without starting any daemon.

The apply tests run the real `postfix check` and `doveconf -n` on throw-away
directories, so they need the binaries (and root, for postfix check).
"""

import dataclasses
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from domains import sql_interface
from mailserver import hosts, services
from mailserver.models import MailServerSettings
from mailserver.render import (
    MailServerConfig,
    RenderError,
    database_connection,
    render_dovecot,
    render_postfix,
)


def main_cf(config) -> dict[str, str]:
    lines = render_postfix(config)["main.cf"].splitlines()
    pairs = [line.split(" = ", 1) for line in lines if " = " in line and line[0] != "#"]
    return dict(pairs)


def test_one_lookup_file_per_query_with_the_documented_sql(config):
    files = render_postfix(config)
    expected = {
        "pgsql-virtual-mailbox-domains.cf": "virtual_mailbox_domains",
        "pgsql-virtual-mailbox-maps.cf": "virtual_mailbox_maps",
        "pgsql-virtual-alias-maps.cf": "virtual_alias_maps",
        "pgsql-sender-login-maps.cf": "smtpd_sender_login_maps",
        "pgsql-recipient-access.cf": "recipient_access",
    }
    for name, key in expected.items():
        assert f"query = {sql_interface.POSTFIX_QUERIES[key]}\n" in files[name]
        assert "dbname = " in files[name]
    sql = render_dovecot(config)["mailpanel-sql.conf.ext"]
    assert f"password_query = {sql_interface.DOVECOT_PASSWORD_QUERY}\n" in sql
    assert f"user_query = {sql_interface.DOVECOT_USER_QUERY}\n" in sql
    assert f"iterate_query = {sql_interface.DOVECOT_ITERATE_QUERY}\n" in sql


def test_main_cf_is_never_an_open_relay(config):
    main = main_cf(config)
    assert main["mynetworks"] == ""
    assert main["smtpd_relay_restrictions"].endswith("reject_unauth_destination")
    assert main["smtpd_sasl_auth_enable"] == "no"  # only on submission
    assert main["smtpd_tls_auth_only"] == "yes"
    assert main["allow_percent_hack"] == "no"
    assert main["mydestination"] == ""
    recipient = main["smtpd_recipient_restrictions"]
    assert recipient.index("check_recipient_access") < recipient.index(
        "reject_unlisted_recipient"
    )
    for name in ("virtual_mailbox_domains", "virtual_alias_maps"):
        assert main[name].startswith("proxy:pgsql:")
        assert f"${name}" in main["proxy_read_maps"]
    assert (
        "reject_sender_login_mismatch"
        in (main["mailpanel_submission_sender_restrictions"])
    )


def test_master_cf_has_smtp_submission_and_submissions(config):
    master = render_postfix(config)["master.cf"]
    assert master.startswith("#")
    services_ = {line.split()[0] for line in master.splitlines() if line[:1].isalnum()}
    assert {"25", "587", "465", "proxymap", "lmtp"} <= services_
    submission = master.split("\n587 ")[1].split("\n465 ")[0]
    assert "smtpd_tls_security_level=encrypt" in submission
    assert "smtpd_sasl_auth_enable=yes" in submission
    assert "smtpd_tls_wrappermode=yes" in master.split("\n465 ")[1].split("pickup")[0]


def master_services(master: str) -> dict[str, tuple[str, list[str]]]:
    """master.cf as {service: (command, [-o options])}."""
    found: dict[str, tuple[str, list[str]]] = {}
    name = ""
    for line in master.splitlines():
        if line[:1].isalnum():
            fields = line.split()
            name = fields[0]
            found[name] = (fields[7], [])
        elif line.startswith("  -o ") and name:
            found[name][1].append(line.removeprefix("  -o "))
    return found


def test_smtpd_resolves_without_the_relay_routes_qmgr_uses(config):
    local = dataclasses.replace(config, local_smtp_listen="127.0.0.1:10025")
    found = master_services(render_postfix(local)["master.cf"])
    smtpds = [name for name, (command, _) in found.items() if command == "smtpd"]
    assert {"25", "587", "465", "127.0.0.1:10025"} <= set(smtpds)
    for name in smtpds:
        assert "rewrite_service_name=smtpd-rewrite" in found[name][1], name
    assert found["smtpd-rewrite"] == (
        "trivial-rewrite",
        [
            "syslog_name=postfix/$service_name",
            "sender_dependent_default_transport_maps=",
            "virtual_mailbox_domains=$mailpanel_resolve_domains",
        ],
    )
    # qmgr routes through "rewrite", which keeps the relay routes of main.cf.
    assert found["rewrite"] == (
        "trivial-rewrite",
        ["virtual_mailbox_domains=$mailpanel_resolve_domains"],
    )
    routes = main_cf(local)["sender_dependent_default_transport_maps"]
    assert routes.startswith("proxy:pgsql:")


def test_port_25_checks_unlisted_recipients_only_where_access_says_nothing(config):
    # OK from mailpanel_recipient_access (every deliverable address) ends the
    # recipient restrictions; everything else meets the explicit check.
    found = master_services(render_postfix(config)["master.cf"])
    assert "smtpd_reject_unlisted_recipient=no" in found["25"][1]
    for name in ("587", "465"):
        assert not any("reject_unlisted" in o for o in found[name][1]), name
    recipient = main_cf(config)["smtpd_recipient_restrictions"].split(", ")
    assert recipient[-2:] == [
        "check_recipient_access $mailpanel_recipient_access",
        "reject_unlisted_recipient",
    ]


def test_port_25_checks_helo_and_sender_at_their_own_commands(config):
    # A delayed sender check resolves the sender again at RCPT (smtpd caches
    # resolutions per recipient context): one SQL query per transaction.
    found = master_services(render_postfix(config)["master.cf"])
    assert "smtpd_delay_reject=no" in found["25"][1]
    # Submission keeps the delay: its client restrictions need the login,
    # which comes after the connection they would otherwise judge.
    for name in ("587", "465"):
        assert not any("smtpd_delay_reject" in o for o in found[name][1]), name
    assert "smtpd_delay_reject" not in main_cf(config)


def test_trivial_rewrite_asks_for_hosted_domains_itself_from_few_processes(config):
    # trivial-rewrite is the only program that asks virtual_mailbox_domains;
    # it skips the proxymap hop, and its process limit bounds its connections.
    config = dataclasses.replace(config, rewrite_processes=3)
    main = main_cf(config)
    assert main["mailpanel_resolve_domains"] == (
        "pgsql:${config_directory}/pgsql-virtual-mailbox-domains.cf"
    )
    assert main["virtual_mailbox_domains"] == (
        "proxy:" + main["mailpanel_resolve_domains"]
    )
    limits = {
        line.split()[0]: line.split()[6]
        for line in render_postfix(config)["master.cf"].splitlines()
        if line[:1].isalnum() and line.split()[7:8] == ["trivial-rewrite"]
    }
    assert limits == {"rewrite": "3", "smtpd-rewrite": "3"}


def test_aliases_do_not_make_their_domains_alias_domains(config):
    # Every hosted domain is a virtual mailbox domain; the default
    # ($virtual_alias_maps) would query the alias map with bare domains.
    assert main_cf(config)["virtual_alias_domains"] == ""


def test_an_extra_parameter_replaces_the_rendered_one(config):
    extra = {"virtual_alias_domains": "$virtual_alias_maps", "delay_warning_time": "1h"}
    text = render_postfix(dataclasses.replace(config, postfix_extra=extra))["main.cf"]
    assert text.count("\nvirtual_alias_domains = ") == 1
    assert "\nvirtual_alias_domains = $virtual_alias_maps\n" in text
    assert text.endswith("delay_warning_time = 1h\n")


def lookup_hosts(config, **db) -> str:
    postfix_db = dataclasses.replace(config.postfix_db, **db)
    files = render_postfix(dataclasses.replace(config, postfix_db=postfix_db))
    lines = files["pgsql-virtual-alias-maps.cf"].splitlines()
    assert "dbname = mailpanel" in lines  # Postfix 3.7 wants it even with a URI
    return next(line for line in lines if line.startswith("hosts = "))[8:]


def test_postfix_reaches_a_socket_directory_or_ipv6_address_with_its_port(config):
    db = {"name": "mailpanel", "user": "mail", "password": "p w,d"}
    assert lookup_hosts(config, host="db.example", port="5432", **db) == (
        "inet:db.example:5432"
    )
    # unix:DIR would ignore the port, unix:DIR/.s.PGSQL.N is not a directory,
    # and libpq cannot resolve inet:[ADDR]:PORT's brackets: only a URI works.
    assert lookup_hosts(config, host="/run/postgresql", port="5433", **db) == (
        "postgresql://mail:p%20w%2Cd@/mailpanel?host=/run/postgresql&port=5433"
    )
    assert lookup_hosts(config, host="::1", port="5432", **db) == (
        "postgresql://mail:p%20w%2Cd@[::1]:5432/mailpanel"
    )


def test_dovecot_requires_tls_unless_the_loopback_test_setting(config):
    main = render_dovecot(config)["mailpanel.conf"]
    assert "ssl = required\n" in main
    assert "disable_plaintext_auth = yes\n" in main
    assert "remote 127.0.0.1" not in main
    assert "/queue/private/dovecot-lmtp" in main
    assert "/queue/private/auth" in main
    relaxed = dataclasses.replace(config, allow_plaintext_auth_on_loopback=True)
    assert (
        "remote 127.0.0.1 {\n  disable_plaintext_auth = no"
        in render_dovecot(relaxed)["mailpanel.conf"]
    )


def test_sqlite_database_gives_sqlite_lookups(config, tmp_path):
    db = database_connection(
        {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "db.sqlite3")}
    )
    lite = dataclasses.replace(config, postfix_db=db, dovecot_db=db)
    files = render_postfix(lite)
    assert (
        f"dbpath = {tmp_path / 'db.sqlite3'}\n" in files["sqlite-virtual-alias-maps.cf"]
    )
    assert main_cf(lite)["virtual_alias_maps"].startswith("proxy:sqlite:")
    assert "driver = sqlite\n" in render_dovecot(lite)["mailpanel-sql.conf.ext"]


def test_values_cannot_inject_configuration_lines(config):
    evil = dataclasses.replace(config, hostname="mail.example.test\nmynetworks = 0/0")
    with pytest.raises(RenderError):
        render_postfix(evil)


def test_password_with_spaces_is_quoted_for_libpq(config):
    db = dataclasses.replace(config.dovecot_db, password="it's a secret")
    sql = render_dovecot(dataclasses.replace(config, dovecot_db=db))
    assert "password='it\\'s a secret'" in sql["mailpanel-sql.conf.ext"]


def test_missing_production_certificate_is_an_error(config, tmp_path):
    missing = dataclasses.replace(config, tls_cert=str(tmp_path / "nope.crt"))
    with pytest.raises(services.MailServerError, match="does not exist"):
        services.ensure_tls_certificate(missing)


def test_render_command_writes_a_runnable_tree(daemon_tools, config, tmp_path, db):
    call_command("mailserver", "render", str(tmp_path / "out"))
    postfix = tmp_path / "out" / "postfix"
    assert (postfix / "main.cf").exists()
    assert oct((postfix / "pgsql-virtual-alias-maps.cf").stat().st_mode)[-3:] == "640"
    services.validate_postfix(postfix)
    services.validate_dovecot(tmp_path / "out" / "dovecot" / "dovecot.conf")
    assert (
        f"args = {tmp_path / 'out' / 'dovecot'}"
        in (tmp_path / "out" / "dovecot" / "mailpanel.conf").read_text()
    )


def test_apply_validates_first_and_keeps_the_previous_config(
    daemon_tools, config, monkeypatch, db
):
    call_command("mailserver", "apply", "--no-reload")
    live_postfix, live_dovecot = config.postfix_dir, config.dovecot_dir
    before = {
        path: path.read_text()
        for directory in (live_postfix, live_dovecot)
        for path in directory.iterdir()
    }

    def broken(config):
        files = render_dovecot(config)
        files["mailpanel.conf"] += "no_such_dovecot_setting = yes\n"
        return files

    monkeypatch.setattr(services, "render_dovecot", broken)
    with pytest.raises(CommandError, match="doveconf"):
        call_command("mailserver", "apply", "--no-reload")
    after = {
        path: path.read_text()
        for directory in (live_postfix, live_dovecot)
        for path in directory.iterdir()
    }
    assert after == before
    leftovers = [
        p.name for p in live_postfix.parent.iterdir() if "mailpanel-" in p.name
    ]
    assert leftovers == []

    monkeypatch.undo()
    call_command("mailserver", "apply", "--no-reload")
    assert Path(f"{live_postfix}.mailpanel-previous", "main.cf").exists()


def admin_edits_the_settings(**fields) -> MailServerSettings:
    """What saving the admin's "Mail server settings" form does."""
    obj = MailServerSettings.load()
    for name, value in fields.items():
        setattr(obj, name, value)
    hosts.mailserver_settings_save(obj=obj)
    return obj


def rendered_main_cf(directory: Path) -> dict[str, str]:
    lines = (directory / "main.cf").read_text().splitlines()
    pairs = [line.split(" = ", 1) for line in lines if " = " in line and line[0] != "#"]
    return dict(pairs)


def test_render_command_uses_the_settings_edited_in_the_admin(config, tmp_path, db):
    admin_edits_the_settings(hostname="mx.admin-edited.test", message_size_limit=1234)

    call_command("mailserver", "render", str(tmp_path / "out"))

    main = rendered_main_cf(tmp_path / "out" / "postfix")
    assert main["myhostname"] == "mx.admin-edited.test"
    assert main["message_size_limit"] == "1234"
    assert config.hostname == "mail.example.test"  # settings.py says otherwise


def test_render_command_on_a_database_not_migrated_yet_uses_settings_py(
    config, tmp_path, db, monkeypatch
):
    from django.db import connection

    monkeypatch.setattr(connection.introspection, "table_names", lambda: [])

    call_command("mailserver", "render", str(tmp_path / "out"))

    main = rendered_main_cf(tmp_path / "out" / "postfix")
    assert main["myhostname"] == "mail.example.test"


def test_apply_command_uses_the_settings_edited_in_the_admin(daemon_tools, config, db):
    admin_edits_the_settings(hostname="mx.admin-edited.test", message_size_limit=4321)

    call_command("mailserver", "apply", "--no-reload")

    main = rendered_main_cf(config.postfix_dir)
    assert main["myhostname"] == "mx.admin-edited.test"
    assert main["message_size_limit"] == "4321"


def test_apply_command_refuses_a_certificate_set_in_the_admin_that_is_missing(
    config, tmp_path, db
):
    # settings.py's pair exists; the admin's path does not, and it wins.
    admin_edits_the_settings(tls_cert=str(tmp_path / "missing.crt"))

    with pytest.raises(CommandError, match="missing.crt does not exist"):
        call_command("mailserver", "apply", "--no-reload")
    assert not config.postfix_dir.exists()


def test_flushing_the_auth_cache_without_dovecot_does_not_raise(config):
    assert services.dovecot_flush_auth_cache("nobody@example.test") is False


def test_each_host_puts_its_own_vmail_root_before_the_userdb_maildir(config):
    # The userdb rows are the same for every host (maildir relative to the
    # root); mail_home joins this host's root to them.
    host = dataclasses.replace(config, vmail_root="/srv/mail/")
    main = render_dovecot(host)["mailpanel.conf"]
    assert "\nmail_home = /srv/mail/%{userdb:mailpanel_maildir}\n" in main
    assert "AS mailpanel_maildir" in sql_interface.DOVECOT_USER_QUERY
    for bad in ("relative/path", "/srv/mail %u", "/srv/'x"):
        with pytest.raises(RenderError, match="vmail root"):
            render_dovecot(dataclasses.replace(config, vmail_root=bad))


def test_dovecot_accepts_exactly_the_logins_the_panel_creates(config):
    # One alphabet (docs/addresses.md): every mailbox the panel accepts can
    # log in and receive, and Dovecot's list is written from the same constant
    # as the model's check, equal to Dovecot's own default.
    from domains.addresses import LOCAL_PART_CHARS, dovecot_username_chars

    main = render_dovecot(config)["mailpanel.conf"]
    line = f"\nauth_username_chars = {dovecot_username_chars()}\n"
    assert line in main
    chars = set(dovecot_username_chars())
    assert chars == set(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01234567890.-_@"
    )
    assert set(LOCAL_PART_CHARS) | set(LOCAL_PART_CHARS.upper()) | {"."} < chars


def test_postfix_expands_an_address_as_far_as_the_panel_allows(settings, config):
    # The models refuse an address that would expand past the setting
    # (domains.expansion); Postfix defers beyond its own limit, so the two
    # are one number.
    assert main_cf(config)["virtual_alias_expansion_limit"] == "50"
    settings.MAILPANEL_ALIAS_EXPANSION_LIMIT = 7
    assert (
        main_cf(MailServerConfig.from_settings())["virtual_alias_expansion_limit"]
        == "7"
    )


def test_mail_leaving_from_here_goes_through_the_signing_milter(config):
    local = dataclasses.replace(config, local_smtp_listen="127.0.0.1:10025")
    main = main_cf(local)
    services_ = master_services(render_postfix(local)["master.cf"])

    # A socket in Postfix's queue directory, for rspamd and the postfix group.
    milter = f"unix:{config.postfix_queue_dir}/private/rspamd-milter"
    assert main["mailpanel_signing_milters"] == milter
    # sendmail(1) (Sieve's replies), bounces and notices: cleanup's milters.
    assert main["non_smtpd_milters"] == "$mailpanel_signing_milters"
    assert main["internal_mail_filter_classes"] == "bounce, notify"
    assert "milter_macro_daemon_name=ORIGINATING" in services_["cleanup"][1]
    # Signer down: 4xx, the client retries; nothing leaves unsigned.
    assert main["milter_default_action"] == "tempfail"
    for name in ("587", "465", "127.0.0.1:10025"):
        options = services_[name][1]
        assert "smtpd_milters=$mailpanel_signing_milters" in options, name
        assert "milter_macro_daemon_name=ORIGINATING" in options, name
    # Port 25 calls no milter: inbound mail keeps coming in when rspamd is down.
    assert not any("milter" in option for option in services_["25"][1])
    assert "smtpd_milters" not in main


def test_no_milter_at_all_when_signing_is_off(config):
    off = dataclasses.replace(config, rspamd_milter_listen="")
    main = main_cf(off)
    assert not any("milter" in name for name in main), main
    assert "smtpd_milters" not in render_postfix(off)["master.cf"]


def test_the_milter_may_listen_on_loopback_tcp(config):
    inet = dataclasses.replace(config, rspamd_milter_listen="inet:[::1]:11332")
    assert main_cf(inet)["mailpanel_signing_milters"] == "inet:[::1]:11332"


@pytest.mark.parametrize(
    "listen",
    [
        "inet:0.0.0.0:11332",
        "inet:10.0.0.5:11332",
        "inet:localhost:11332",
        "127.0.0.1:11332",
        "inet:127.0.0.1:99999",
        "unix:../../tmp/milter",
        "unix:private/rspamd milter",
    ],
)
def test_the_milter_is_reachable_from_this_machine_only(config, listen):
    with pytest.raises(RenderError, match="MAILPANEL_RSPAMD_MILTER_LISTEN"):
        render_postfix(dataclasses.replace(config, rspamd_milter_listen=listen))

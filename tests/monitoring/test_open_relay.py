"""The static open-relay check on main.cf texts and postconf dicts."""

from monitoring.findings import Severity
from monitoring.openrelay import open_relay_check

SAFE = """
# Generated
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated,
    reject_unauth_destination
smtpd_recipient_restrictions = reject_non_fqdn_recipient, reject_unlisted_recipient
mynetworks = 127.0.0.0/8 [::1]/128
"""


def severities(config) -> dict[str, Severity]:
    return {f.subject: f.severity for f in open_relay_check(config)}


def test_it_accepts_the_usual_relay_restrictions():
    assert severities(SAFE) == {
        "postfix": Severity.OK,
        "postfix mynetworks": Severity.OK,
    }


def test_it_flags_a_permit_before_reject_unauth_destination():
    config = SAFE.replace(
        "permit_sasl_authenticated,", "permit, permit_sasl_authenticated,"
    )
    finding = open_relay_check(config)[0]
    assert finding.severity is Severity.CRITICAL
    assert "open relay" in finding.summary
    assert "reject_unauth_destination" in finding.advice


def test_it_flags_empty_relay_restrictions_without_a_recipient_safeguard():
    config = {"smtpd_relay_restrictions": "", "smtpd_recipient_restrictions": ""}
    assert severities(config)["postfix"] is Severity.CRITICAL


def test_it_accepts_empty_relay_restrictions_when_recipient_ones_protect():
    config = {
        "smtpd_relay_restrictions": "",
        "smtpd_recipient_restrictions": "permit_mynetworks, reject_unauth_destination",
    }
    assert severities(config)["postfix"] is Severity.OK


def test_it_uses_postfix_defaults_when_relay_restrictions_are_unset():
    assert severities({"smtpd_recipient_restrictions": ""})["postfix"] is Severity.OK


def test_it_accepts_a_list_that_ends_in_reject():
    config = {"smtpd_relay_restrictions": "permit_sasl_authenticated, reject"}
    assert severities(config)["postfix"] is Severity.OK


def test_it_warns_about_an_access_table_before_reject_unauth_destination():
    config = {
        "smtpd_relay_restrictions": "check_client_access hash:/etc/postfix/clients, "
        "reject_unauth_destination",
    }
    finding = open_relay_check(config)[0]
    assert finding.severity is Severity.CRITICAL
    assert "check_client_access hash:/etc/postfix/clients" in finding.summary


def test_it_flags_mynetworks_covering_the_internet():
    config = SAFE.replace("mynetworks = 127.0.0.0/8", "mynetworks = 0.0.0.0/0")
    assert severities(config)["postfix mynetworks"] is Severity.CRITICAL


def test_it_warns_about_a_wide_public_mynetworks():
    config = SAFE.replace("mynetworks = 127.0.0.0/8", "mynetworks = 198.51.0.0/16")
    assert severities(config)["postfix mynetworks"] is Severity.WARNING


def test_it_accepts_private_networks_and_lookup_tables_in_mynetworks():
    config = SAFE.replace(
        "mynetworks = 127.0.0.0/8", "mynetworks = 10.0.0.0/8 cidr:/etc/postfix/nets"
    )
    assert severities(config)["postfix mynetworks"] is Severity.OK


def test_it_warns_when_mynetworks_style_trusts_the_subnet():
    config = {"mynetworks_style": "subnet"}
    assert severities(config)["postfix mynetworks"] is Severity.WARNING


def test_it_accepts_the_main_cf_mailpanel_renders():
    # The mailserver app's own output must pass: the panel never renders a relay.
    from mailserver.render import MailServerConfig, render_postfix

    main_cf = render_postfix(MailServerConfig.from_settings())["main.cf"]
    assert severities(main_cf) == {
        "postfix": Severity.OK,
        "postfix mynetworks": Severity.OK,
    }

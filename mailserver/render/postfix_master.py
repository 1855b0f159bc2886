"""Postfix's master.cf: the listeners, the internal services, the relay clients."""

from __future__ import annotations

from mailserver.render.config import MailServerConfig, local_smtp_listen
from mailserver.render.text import GENERATED, comment_lines, safe_value

# The trivial-rewrite service of the smtpd services (see postfix_master_cf).
SMTPD_REWRITE_SERVICE = "smtpd-rewrite"


def postfix_master_cf(config: MailServerConfig) -> str:
    # No chroot: the services read SQL through proxymap anyway, and a chroot
    # needs copies of /etc files that only Debian's init script maintains.
    # smtpd resolves every address of a transaction (reject_unauth_destination,
    # reject_unlisted_recipient), but only the class of the answer matters
    # there, never the transport. Its own trivial-rewrite leaves out the relay
    # routes (sender_dependent_default_transport_maps), which would otherwise
    # cost an SQL query per address; qmgr, which routes, uses "rewrite".
    smtpd_rewrite = f"rewrite_service_name={SMTPD_REWRITE_SERVICE}"
    resolve_domains = "virtual_mailbox_domains=$mailpanel_resolve_domains"
    rewrite_limit = str(config.rewrite_processes)
    submission_common = [
        smtpd_rewrite,
        "smtpd_sasl_auth_enable=yes",
        "smtpd_tls_auth_only=yes",
        "smtpd_tls_security_level=encrypt",
        "smtpd_client_restrictions=$mailpanel_submission_client_restrictions",
        "smtpd_helo_restrictions=",
        "smtpd_sender_restrictions=$mailpanel_submission_sender_restrictions",
        "smtpd_relay_restrictions=$mailpanel_submission_relay_restrictions",
        "smtpd_recipient_restrictions=reject_non_fqdn_recipient",
        "milter_macro_daemon_name=ORIGINATING",
    ]
    # DKIM signing (main.cf's mailpanel_signing_milters): mail that leaves
    # from here, never port 25's.
    signing = ["smtpd_milters=$mailpanel_signing_milters"] if config.signing else []
    submission_common += signing

    def service(name: str, kind: str, private: str, limit: str, command: str, *opts):
        line = (
            f"{safe_value(name, 'service'):<24} {kind:<10} {private:<7} "
            f"-       n       -       {limit:<7} {command}\n"
        )
        return line + "".join(f"  -o {safe_value(opt, 'option')}\n" for opt in opts)

    lines = [
        comment_lines(GENERATED),
        "# service                type       private unpriv  chroot  wakeup  "
        "maxproc command\n",
        service(
            config.smtp_listen,
            "inet",
            "n",
            "-",
            "smtpd",
            smtpd_rewrite,
            # Its recipient restrictions end in an explicit
            # reject_unlisted_recipient, which an OK from
            # mailpanel_recipient_access (every deliverable address) skips;
            # the implicit one would ask the alias map again all the same.
            "smtpd_reject_unlisted_recipient=no",
            # HELO and sender restrictions at their own commands, not at RCPT.
            # smtpd caches resolved addresses by (context, address): at MAIL
            # FROM the sender's context is empty, at RCPT it is the recipient,
            # so a delayed check_sender_access resolves the sender again, an
            # SQL query per transaction for nothing. Nothing on port 25 needs
            # the delay: there is no login there, and no sender or HELO check
            # depends on the recipient.
            "smtpd_delay_reject=no",
        ),
        service(
            config.submission_listen,
            "inet",
            "n",
            "-",
            "smtpd",
            "syslog_name=postfix/submission",
            *submission_common,
        ),
        service(
            config.submissions_listen,
            "inet",
            "n",
            "-",
            "smtpd",
            "syslog_name=postfix/submissions",
            "smtpd_tls_wrappermode=yes",
            *submission_common,
        ),
        "pickup                   unix       n       -       n       60      1       "
        "pickup\n",
        service(
            "cleanup",
            "unix",
            "n",
            "0",
            "cleanup",
            # What cleanup hands the milter for sendmail(1), bounces and
            # notices (non_smtpd_milters): "leaving from here" to rspamd.
            "milter_macro_daemon_name=ORIGINATING",
        ),
        "qmgr                     unix       n       -       n       300     1       "
        "qmgr\n",
        "tlsmgr                   unix       -       -       n       1000?   1       "
        "tlsmgr\n",
        service(
            "rewrite", "unix", "-", rewrite_limit, "trivial-rewrite", resolve_domains
        ),
        service(
            SMTPD_REWRITE_SERVICE,
            "unix",
            "-",
            rewrite_limit,
            "trivial-rewrite",
            "syslog_name=postfix/$service_name",
            "sender_dependent_default_transport_maps=",
            resolve_domains,
        ),
        service("bounce", "unix", "-", "0", "bounce"),
        service("defer", "unix", "-", "0", "bounce"),
        service("trace", "unix", "-", "0", "bounce"),
        service("verify", "unix", "-", "1", "verify"),
        "flush                    unix       n       -       n       1000?   0       "
        "flush\n",
        service("proxymap", "unix", "-", str(config.proxymap_processes), "proxymap"),
        service("proxywrite", "unix", "-", "1", "proxymap"),
        service("smtp", "unix", "-", "-", "smtp"),
        service("relay", "unix", "-", "-", "smtp", "syslog_name=postfix/$service_name"),
        *_relay_services(service),
        service("showq", "unix", "n", "-", "showq"),
        service("error", "unix", "-", "-", "error"),
        service("retry", "unix", "-", "-", "error"),
        service("discard", "unix", "-", "-", "discard"),
        service("lmtp", "unix", "-", "-", "lmtp"),
        service("anvil", "unix", "-", "1", "anvil"),
        service("scache", "unix", "-", "1", "scache"),
        service("postlog", "unix-dgram", "n", "1", "postlogd"),
    ]
    if config.local_smtp_listen:
        # The mail host's own programs (Dovecot's Sieve replies): only loopback
        # clients, which may relay; nothing else is offered on this port.
        lines.append(
            service(
                local_smtp_listen(config),
                "inet",
                "n",
                "-",
                "smtpd",
                "syslog_name=postfix/local",
                smtpd_rewrite,
                "mynetworks=127.0.0.0/8",
                "smtpd_client_restrictions=permit_mynetworks,reject",
                "smtpd_helo_restrictions=",
                "smtpd_sender_restrictions=",
                "smtpd_relay_restrictions=permit_mynetworks,reject",
                "smtpd_recipient_restrictions=",
                "smtpd_sasl_auth_enable=no",
                "milter_macro_daemon_name=ORIGINATING",
                *signing,
            )
        )
    return "".join(lines)


def _relay_services(service) -> list[str]:
    """The smtp clients for relay hosts: mandatory, verified TLS and SASL.

    The certificate must name the relay host (nexthop, not dot-nexthop) and
    chain to MAILPANEL_RELAY_TLS_CA_FILE. Host names resolve like every other
    program's (native: /etc/hosts, then DNS), as "Test this relay" does.
    """
    relay_common = [
        "smtp_sasl_auth_enable=yes",
        "smtp_sasl_password_maps=$mailpanel_relay_credentials_maps",
        # Cyrus's default, noplaintext, would refuse PLAIN and LOGIN.
        "smtp_sasl_security_options=noanonymous",
        "smtp_sasl_tls_security_options=noanonymous",
        "smtp_sasl_mechanism_filter=$mailpanel_relay_sasl_mechanisms",
        "smtp_sasl_auth_soft_bounce=yes",
        "smtp_tls_security_level=secure",
        "smtp_tls_secure_cert_match=nexthop",
        "smtp_tls_CAfile=$mailpanel_relay_tls_ca_file",
        "smtp_tls_mandatory_protocols=$mailpanel_relay_tls_protocols",
        # One line per connection: "Verified TLS connection established to".
        "smtp_tls_loglevel=1",
        "smtp_host_lookup=native",
        # Refusals on policy grounds (no or wrong login) are retried.
        "smtp_delivery_status_filter=$mailpanel_relay_status_filter",
    ]
    return [
        service(
            "relay-smtp",
            "unix",
            "-",
            "-",
            "smtp",
            "syslog_name=postfix/relay-smtp",
            *relay_common,
        ),
        service(
            "relay-smtps",
            "unix",
            "-",
            "-",
            "smtp",
            "syslog_name=postfix/relay-smtps",
            "smtp_tls_wrappermode=yes",
            *relay_common,
        ),
    ]

"""rspamd: a small configuration of its own for DKIM signing as Postfix's milter.

Not Debian's /etc/rspamd tree, which loads every spam rule, a controller and
Redis-backed modules: ``rspamd.conf`` here loads only what signing needs. One
proxy worker speaks the milter protocol on loopback and scans the messages
itself (``self_scan``), with two modules: ``dkim`` (the C module that signs)
and ``dkim_signing`` (which picks the keys). No Redis, no DNS lookups, no
controller. docs/dkim.md explains the policy, docs/mailserver.md the wiring.

Paths inside the tree are written as ``$CURDIR/...`` (the directory of the
file being parsed), so ``rspamadm configtest`` of a staged copy reads the
copy's files and the live daemon reads the live ones.

The keys of each domain are listed under ``dkim_signing { domain { ... } }``
in rspamd's usual layout, one key file per selector in ``dkim/``, so rspamd's
``arc`` module can be configured from the same keys later.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from mailserver.render.config import MailServerConfig, milter_address
from mailserver.render.text import GENERATED, RenderError, comment_lines, safe_value

if TYPE_CHECKING:
    from dkim.services import SigningKey

RSPAMD_CONF = "rspamd.conf"
# Rendered whole on every apply: a key that is no longer active disappears.
KEY_DIR = "dkim"
# Local additions; mailpanel never writes it.
LOCAL_CONF = "local.conf"
# The Milter {daemon_name} of mail that leaves from here (Postfix's
# milter_macro_daemon_name); rspamd receives it as the MTA-Name.
ORIGINATING = "ORIGINATING"
SIGN_CONDITION = Path(__file__).with_name("rspamd_sign_condition.lua")


def key_file(key: SigningKey) -> str:
    """The key's file, relative to the configuration directory."""
    domain = _name(key.domain, "DKIM domain")
    return f"{KEY_DIR}/{domain}.{_name(key.selector, 'DKIM selector')}.key"


def rspamd_private_key(key: SigningKey) -> str:
    """The private key in the form rspamd's dkim module reads.

    RSA: the PKCS#8 PEM as it is. Ed25519: rspamd 3.4 does not read PEM
    Ed25519 keys, only libsodium's 64-byte secret key (seed, then public
    key) in base64, which is what ``rspamadm dkim_keygen -t ed25519`` writes.
    """
    if key.algorithm == "rsa":
        return key.private_pem.rstrip("\n") + "\n"
    private = serialization.load_pem_private_key(
        key.private_pem.encode("ascii"), password=None
    )
    if not isinstance(private, ed25519.Ed25519PrivateKey):
        raise RenderError(f"The {key.selector} key of {key.domain} is not Ed25519.")
    seed = private.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    public = private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return base64.b64encode(seed + public).decode("ascii") + "\n"


def notice_domain(hostname: str, domains: Iterable[str]) -> str | None:
    """The signing domain that Postfix's own notices align with, if any.

    Bounces come from MAILER-DAEMON@myhostname. A host named
    mail.example.com signs them as example.com when that domain has keys
    here: DMARC's relaxed alignment accepts a parent domain's signature.
    """
    host = hostname.lower().rstrip(".")
    parents = [d for d in domains if host == d or host.endswith("." + d)]
    return max(parents, key=len) if parents else None


def render_rspamd(
    config: MailServerConfig, keys: Sequence[SigningKey]
) -> dict[str, str]:
    """rspamd.conf and one file per signing key under ``dkim/``."""
    files = {RSPAMD_CONF: _rspamd_conf(config, keys)}
    for key in keys:
        files[key_file(key)] = rspamd_private_key(key)
    return files


def _ucl(value: object, what: str) -> str:
    # JSON strings are UCL strings. "$" would start a UCL variable.
    text = safe_value(value, what)
    if "$" in text:
        raise RenderError(f"{what} contains a '$'.")
    return json.dumps(text)


def _name(value: str, what: str) -> str:
    # Domains and selectors name key files: never a "/" or anything to quote.
    if not re.fullmatch(r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?", value) or ".." in value:
        raise RenderError(f"{what} {value!r} is not a DNS name in lower case.")
    return value


def _state(config: MailServerConfig, name: str) -> str:
    return _ucl(f"{config.rspamd_state_dir.rstrip('/')}/{name}", "rspamd state dir")


def _rspamd_conf(config: MailServerConfig, keys: Sequence[SigningKey]) -> str:
    by_domain: dict[str, list[SigningKey]] = {}
    for key in keys:
        by_domain.setdefault(key.domain, []).append(key)
    sections = [
        comment_lines(GENERATED),
        _options(config),
        _logging(config),
        'modules {\n    path = "${PLUGINSDIR}";\n}\n\n',
        comment_lines(
            "Postfix's milter (docs/mailserver.md). The proxy scans messages itself;\n"
            "no other worker runs. Whoever reaches this socket can have mail signed\n"
            "for any hosted domain: rspamd and the postfix group only, or loopback."
        ),
        'worker "rspamd_proxy" {\n'
        f"    bind_socket = {_ucl(milter_address(config).rspamd, 'milter')};\n"
        "    milter = yes;\n"
        "    timeout = 120s;\n"
        '    upstream "local" {\n'
        "        default = yes;\n"
        "        self_scan = yes;\n"
        "    }\n"
        "}\n\n",
        _dkim_signing(config, by_domain),
        comment_lines("Local additions (mailpanel never writes this file)."),
        f'.include(try=true; priority=1; duplicate=merge) "$CURDIR/{LOCAL_CONF}"\n',
    ]
    return "".join(sections)


def _options(config: MailServerConfig) -> str:
    return (
        "options {\n"
        f"    pidfile = {_state(config, 'rspamd.pid')};\n"
        f"    control_socket = {_state(config, 'rspamd.sock mode=0600')};\n"
        f"    cache_file = {_state(config, 'symbols.cache')};\n"
        f"    history_file = {_state(config, 'rspamd.history')};\n"
        f"    stats_file = {_state(config, 'stats.ucl')};\n"
        f"    dynamic_conf = {_state(config, 'rspamd_dynamic')};\n"
        "    # Compiled URL matchers, named by their content: shared with every\n"
        "    # other rspamd of this machine, so only the first start compiles them.\n"
        '    hs_cache_dir = "${DBDIR}/";\n'
        '    url_tld = "${SHAREDIR}/effective_tld_names.dat";\n'
        "    # The C module that signs; no other filter (no spam rules).\n"
        '    filters = "dkim";\n'
        "    # Only this machine counts as local, not Debian's private networks.\n"
        '    local_addrs = ["127.0.0.0/8", "::1"];\n'
        "    # A message not signed in time is deferred (4xx), never passed unsigned.\n"
        "    soft_reject_on_timeout = true;\n"
        "}\n\n"
    )


def _logging(config: MailServerConfig) -> str:
    if config.rspamd_log_file:
        target = (
            '    type = "file";\n'
            f"    filename = {_ucl(config.rspamd_log_file, 'rspamd log file')};\n"
        )
    else:
        target = '    type = "syslog";\n    facility = "mail";\n'
    return f'logging {{\n{target}    level = "info";\n}}\n\n'


def _dkim_signing(
    config: MailServerConfig, by_domain: dict[str, list[SigningKey]]
) -> str:
    lines = [
        comment_lines(
            "Each active key of a hosted domain, RSA and Ed25519 side by side: a\n"
            "message gets one signature per key of its From: domain. Which\n"
            "messages are signed is sign_condition's decision (docs/dkim.md)."
        ),
        "dkim_signing {\n",
        "    try_fallback = false;\n",
        "    use_esld = false;\n",
        f"    mailpanel_hostname = {_ucl(config.hostname.lower(), 'hostname')};\n",
    ]
    notices = notice_domain(config.hostname, by_domain)
    if notices:
        lines.append(f"    mailpanel_notice_domain = {_ucl(notices, 'domain')};\n")
    lines.append("    domain {\n")
    for domain, keys in sorted(by_domain.items()):
        lines.append(f"        {_ucl(domain, 'domain')} {{\n")
        lines.append("            selectors = [\n")
        for key in keys:
            lines.append(
                f"                {{ selector = {_ucl(key.selector, 'selector')}; "
                f'path = "$CURDIR/{key_file(key)}"; }},\n'
            )
        lines.append("            ];\n        }\n")
    lines.append("    }\n")
    lines.append("    sign_condition = <<EOD\n")
    lines.append(SIGN_CONDITION.read_text())
    lines.append("EOD\n}\n\n")
    return "".join(lines)

"""A provider's relay host on loopback, for the relay tests.

A second Postfix, with its own queue, on two kernel-chosen ports: one
STARTTLS-only (as 587), one implicit TLS (as 465). Both require SASL, checked
by a Dovecot of its own that only authenticates (passwd-file). Its
certificate is signed by a test CA made here, so the client side can verify
it (``ca_file``) for the name ``localhost``. Everything it accepts goes to its
own SMTP sink, so a test can tell relayed mail from direct mail.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.mailserver.support import SmtpSink, free_port

HOSTNAME = "relay.provider.test"
RELAY_HOST = "localhost"  # the name the certificate carries; /etc/hosts has it
USERS = {
    "relayuser@provider.test": "Relay-Pass-1",
    "other@provider.test": "Other-Pass-2",
}


@dataclass
class Provider:
    workdir: Path
    starttls_port: int
    tls_port: int
    ca_file: Path
    sink: SmtpSink
    controller: object

    def log(self) -> str:
        path = self.workdir / "postfix.log"
        return path.read_text() if path.exists() else ""


def _run(args: list[str], cwd: Path) -> None:
    result = subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {result.stderr}{result.stdout}")


def make_certificates(workdir: Path) -> Path:
    """A test CA and a server certificate for localhost signed by it."""
    _run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=mailpanel relay test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ],
        workdir,
    )
    (workdir / "server.ext").write_text(
        "basicConstraints=CA:FALSE\n"
        "keyUsage=digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        f"subjectAltName=DNS:{RELAY_HOST}\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid\n"
    )
    _run(
        [
            "openssl",
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            f"/CN={RELAY_HOST}",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
        workdir,
    )
    _run(
        [
            "openssl",
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.crt",
        ],
        workdir,
    )
    (workdir / "server.key").chmod(0o600)
    return workdir / "ca.crt"


def _main_cf(w: Path, sink_port: int) -> str:
    pairs = {
        "compatibility_level": "3.6",
        "queue_directory": w / "queue",
        "data_directory": w / "data",
        "myhostname": HOSTNAME,
        "mydestination": "",
        "inet_interfaces": "127.0.0.1",
        "inet_protocols": "ipv4",
        "mynetworks": "",
        "mynetworks_style": "host",
        "relayhost": "",
        "alias_maps": "",
        "alias_database": "",
        "local_recipient_maps": "",
        "biff": "no",
        "default_transport": f"smtp:[127.0.0.1]:{sink_port}",
        "smtpd_sasl_auth_enable": "yes",
        "smtpd_sasl_type": "dovecot",
        "smtpd_sasl_path": "private/auth",
        "smtpd_sasl_security_options": "noanonymous",
        "smtpd_sasl_authenticated_header": "yes",
        "smtpd_tls_cert_file": w / "server.crt",
        "smtpd_tls_key_file": w / "server.key",
        "smtpd_tls_security_level": "encrypt",
        "smtpd_tls_auth_only": "yes",
        "smtpd_relay_restrictions": "permit_sasl_authenticated, reject",
        "smtpd_recipient_restrictions": "",
        "maillog_file": w / "postfix.log",
        "maillog_file_prefixes": w,
    }
    return "".join(f"{key} = {value}\n" for key, value in pairs.items())


def _master_cf(starttls_port: int, tls_port: int) -> str:
    services = [
        f"127.0.0.1:{starttls_port} inet n - n - - smtpd",
        f"127.0.0.1:{tls_port} inet n - n - - smtpd -o smtpd_tls_wrappermode=yes",
        "pickup unix n - n 60 1 pickup",
        "cleanup unix n - n - 0 cleanup",
        "qmgr unix n - n 300 1 qmgr",
        "tlsmgr unix - - n 1000? 1 tlsmgr",
        "rewrite unix - - n - - trivial-rewrite",
        "bounce unix - - n - 0 bounce",
        "defer unix - - n - 0 bounce",
        "trace unix - - n - 0 bounce",
        "verify unix - - n - 1 verify",
        "flush unix n - n 1000? 0 flush",
        "proxymap unix - - n - - proxymap",
        "smtp unix - - n - - smtp",
        "relay unix - - n - - smtp",
        "showq unix n - n - - showq",
        "error unix - - n - - error",
        "retry unix - - n - - error",
        "discard unix - - n - - discard",
        "anvil unix - - n - 1 anvil",
        "scache unix - - n - 1 scache",
        "postlog unix-dgram n - n - 1 postlogd",
    ]
    return "\n".join(services) + "\n"


def _dovecot_conf(w: Path) -> str:
    return f"""instance_name = mailpanel-relay-provider
base_dir = {w}/dovecot-run
protocols = none
log_path = {w}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {w}/users
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}}
service auth {{
  unix_listener {w}/queue/private/auth {{
    mode = 0660
    user = postfix
    group = postfix
  }}
}}
"""


def start(workdir: Path) -> Provider:
    w = workdir
    ca_file = make_certificates(w)
    sink = SmtpSink()
    controller = sink.start()
    starttls_port, tls_port = free_port(), free_port()
    (w / "postfix").mkdir()
    # postfix(1) needs its queue directory; the master's lock lives in data.
    (w / "queue").mkdir(mode=0o755)
    (w / "data").mkdir(mode=0o700)
    shutil.chown(w / "data", "postfix", "postfix")
    (w / "postfix" / "main.cf").write_text(_main_cf(w, sink.port))
    (w / "postfix" / "master.cf").write_text(_master_cf(starttls_port, tls_port))
    (w / "users").write_text(
        "".join(
            f"{user}:{{PLAIN}}{password}::::::\n" for user, password in USERS.items()
        )
    )
    (w / "dovecot.conf").write_text(_dovecot_conf(w))
    for args in (
        # Postfix first: it creates its queue directory, where Dovecot puts
        # the auth socket.
        ["postfix", "-c", str(w / "postfix"), "start"],
        ["dovecot", "-c", str(w / "dovecot.conf")],
    ):
        with open(w / "start.log", "a+") as output:
            # Not a pipe: the daemons inherit it and would keep run() waiting.
            result = subprocess.run(
                args, stdout=output, stderr=output, timeout=60, check=False
            )
        if result.returncode != 0:
            stop_daemons(w)
            raise RuntimeError(f"{args[0]}: {(w / 'start.log').read_text()}")
    provider = Provider(w, starttls_port, tls_port, ca_file, sink, controller)
    _wait_for(starttls_port)
    _wait_for(tls_port)
    return provider


def stop(provider: Provider) -> None:
    stop_daemons(provider.workdir)
    provider.controller.stop()


def stop_daemons(w: Path) -> None:
    for args in (
        ["postfix", "-c", str(w / "postfix"), "stop"],
        ["doveadm", "-c", str(w / "dovecot.conf"), "stop"],
    ):
        subprocess.run(args, capture_output=True, timeout=60, check=False)


def _wait_for(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the provider's relay does not listen on {port}")

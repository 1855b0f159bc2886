"""rspamd on a mail host: its files, their validation, start, stop and reload.

rspamd signs outgoing mail as Postfix's milter (docs/dkim.md); its
configuration is rendered by ``mailserver.render.rspamd`` and swapped in by
``mailserver.services.mailserver_apply`` like Postfix's and Dovecot's. The
private keys are written here, readable by root and rspamd's group only, and
never appear in a log line, an error or a repr.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mailserver.render import (
    RSPAMD_CONF,
    RSPAMD_KEY_DIR,
    MailServerConfig,
    render_rspamd,
)
from mailserver.render.config import milter_address
from mailserver.tools import (
    MailServerError,
    RenderedFile,
    run_tool,
    tool_output,
)

if TYPE_CHECKING:
    from dkim.services import SigningKey

# Debian's rspamd package runs its workers as this user and group.
RSPAMD_USER = RSPAMD_GROUP = "_rspamd"
RELOAD_TIMEOUT = 60.0
# What `rspamadm configtest` prints for a configuration that only lacks what
# mailpanel does not use (actions and symbol groups are spam scoring).
_CONFIGTEST_OK = {"syntax OK", "no actions defined", "no symbol groups defined"}


def rspamd_files(
    config: MailServerConfig, keys: Sequence[SigningKey]
) -> dict[str, RenderedFile]:
    key_prefix = f"{RSPAMD_KEY_DIR}/"
    return {
        path: (
            RenderedFile(content, 0o640, RSPAMD_GROUP)
            if path.startswith(key_prefix)
            else RenderedFile(content)
        )
        for path, content in render_rspamd(config, keys).items()
    }


def ensure_rspamd_directories(config: MailServerConfig) -> None:
    """The state directory (pid file, caches), rspamd's own like Debian's
    /var/lib/rspamd."""
    state = Path(config.rspamd_state_dir)
    if not state.exists():
        state.mkdir(mode=0o750, parents=True)
        if os.geteuid() == 0:
            shutil.chown(state, RSPAMD_USER, RSPAMD_GROUP)


def validate_rspamd(config_file: Path) -> None:
    """``rspamadm configtest``, which also loads the Lua modules.

    It exits 0 when a module fails to load (e.g. the signing policy does not
    compile) and only prints the error, so any line beyond the known harmless
    ones counts as a failure.
    """
    result = run_tool(["rspamadm", "configtest", "-c", str(config_file)], "configtest")
    lines = [
        line.strip()
        for line in (result.stdout + result.stderr).splitlines()
        if line.strip()
    ]
    problems = [line for line in lines if line not in _CONFIGTEST_OK]
    if result.returncode != 0 or problems or "syntax OK" not in lines:
        raise MailServerError(
            f"rspamadm configtest failed: {' '.join(problems) or tool_output(result)}"
        )


def rspamd_pid(config: MailServerConfig) -> int | None:
    """The running main process of this configuration's rspamd, or None."""
    try:
        pid = int((Path(config.rspamd_state_dir) / "rspamd.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None
    # A stale pid file may name a process that reused the number.
    return pid if comm.startswith("rspamd") else None


def _children(pid: int) -> set[int]:
    found = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            found.add(int(name))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def rspamd_start(config: MailServerConfig, log_file: Path) -> int:
    """Start rspamd with the applied configuration; returns its main pid.

    rspamd reads its configuration and daemonises; its workers drop to
    ``_rspamd``. The first start on a machine compiles the URL matchers
    (about 10 s on two cores), later ones find them in the shared cache.
    """
    ensure_rspamd_directories(config)
    args = [
        "rspamd",
        "-c",
        str(config.rspamd_dir / RSPAMD_CONF),
        "-u",
        RSPAMD_USER,
        "-g",
        RSPAMD_GROUP,
    ]
    # A file, not a pipe: the daemon inherits it and would keep run() waiting.
    with open(log_file, "a+") as output:
        result = subprocess.run(
            args, stdout=output, stderr=output, timeout=120, check=False
        )
    deadline = time.monotonic() + 30
    while (pid := rspamd_pid(config)) is None or not milter_answers(config):
        if result.returncode != 0 or time.monotonic() > deadline:
            raise MailServerError(f"rspamd did not start; see {log_file}")
        time.sleep(0.1)
    return pid


def milter_answers(config: MailServerConfig) -> bool:
    """Whether something accepts connections on the milter's socket."""
    where = milter_address(config).postfix
    kind, _, address = where.partition(":")
    if kind == "unix":
        family, target = socket.AF_UNIX, address
    else:
        host, _, port = address.rpartition(":")
        family, target = socket.AF_INET, (host.strip("[]"), int(port))
        if ":" in host:
            family = socket.AF_INET6
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        with contextlib.suppress(OSError):
            sock.connect(target)
            return True
    return False


def rspamd_stop(config: MailServerConfig, timeout: float = 30.0) -> None:
    """Stop rspamd and wait until its workers are gone too."""
    pid = rspamd_pid(config)
    if pid is None:
        return
    workers = _children(pid)
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(_alive(p) for p in workers | {pid}):
        if time.monotonic() > deadline:
            raise MailServerError(f"rspamd (pid {pid}) did not stop in time.")
        time.sleep(0.1)


def rspamd_reload(config: MailServerConfig, timeout: float = RELOAD_TIMEOUT) -> None:
    """Make the running rspamd use the applied configuration (new keys).

    SIGHUP: rspamd reads its configuration again, starts new workers and
    lets the old ones finish. Returns once the old workers are gone, so a
    message submitted afterwards is signed with the new keys.
    """
    pid = rspamd_pid(config)
    if pid is None:
        return
    old = _children(pid)
    os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + timeout
    while any(_alive(p) for p in old) or not (_children(pid) - old):
        if time.monotonic() > deadline:
            raise MailServerError(
                f"rspamd (pid {pid}) did not reload in {timeout:.0f} s; see its log."
            )
        time.sleep(0.1)

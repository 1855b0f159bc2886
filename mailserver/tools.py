"""Running the daemons' command-line tools and writing rendered files.

Shared by ``mailserver.services`` (Postfix, Dovecot, apply) and
``mailserver.rspamd``: one error type for people, one way to run a tool, one
way to write a file that may hold a secret.
"""

from __future__ import annotations

import grp
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

COMMAND_TIMEOUT = 60


class MailServerError(RuntimeError):
    """Rendering, validating or applying failed; the message is for people."""


@dataclass(frozen=True)
class RenderedFile:
    # Some hold a database password or a private key: never in a repr.
    content: str = field(repr=False)
    mode: int = 0o644
    group: str | None = None


def run_tool(args: list[str], what: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            args, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False
        )
    except FileNotFoundError:
        raise MailServerError(
            f"{what}: {args[0]} is not installed (run scripts/mailserver-install.sh)."
        ) from None
    except subprocess.TimeoutExpired:
        raise MailServerError(f"{what}: {args[0]} did not answer in time.") from None


def tool_output(result: subprocess.CompletedProcess[str]) -> str:
    text = (result.stderr or "") + (result.stdout or "")
    return " ".join(text.split())[:800]


def group_id(name: str) -> int | None:
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return None


def write_files(directory: Path, files: Mapping[str, RenderedFile]) -> None:
    for relative, rendered in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        # Created with its final mode, so a secret is never world-readable.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, rendered.mode)
        with os.fdopen(fd, "w") as handle:
            handle.write(rendered.content)
        os.chmod(tmp, rendered.mode)
        if rendered.group and os.geteuid() == 0:
            gid = group_id(rendered.group)
            if gid is None:
                os.chmod(tmp, rendered.mode & 0o600)
            else:
                os.chown(tmp, 0, gid)
        os.replace(tmp, path)

"""Writing, validating and swapping in the mail server configuration.

``mailserver_apply()`` never edits live files in place: it copies each live
directory next to itself, writes the rendered files into the copy, validates
the copy with ``postfix check`` / ``postconf`` and ``doveconf -n``, and only
then exchanges the copy with the live directory in one ``renameat2`` call. A
failed validation deletes the copy and leaves the running configuration as it
was; the previous directory is kept as ``DIR.mailpanel-previous``.
"""

from __future__ import annotations

import ctypes
import dataclasses
import errno
import grp
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from mailserver.render import (
    DOVECOT_CREDENTIALS_GROUP,
    DOVECOT_SQL_FILE,
    POSTFIX_CREDENTIALS_GROUP,
    POSTFIX_QUERIES,
    MailServerConfig,
    lookup_file,
    render_dovecot,
    render_postfix,
)

logger = logging.getLogger(__name__)

COMMAND_TIMEOUT = 60
PREVIOUS_SUFFIX = ".mailpanel-previous"


class MailServerError(RuntimeError):
    """Rendering, validating or applying failed; the message is for people."""


@dataclass(frozen=True)
class RenderedFile:
    content: str
    mode: int = 0o644
    group: str | None = None


def _run(args: list[str], what: str) -> subprocess.CompletedProcess[str]:
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


def _output(result: subprocess.CompletedProcess[str]) -> str:
    text = (result.stderr or "") + (result.stdout or "")
    return " ".join(text.split())[:800]


# --- TLS -----------------------------------------------------------------------


def ensure_tls_certificate(config: MailServerConfig) -> None:
    """Make the development self-signed pair when it is missing.

    Only the default paths under var/ are ever generated: a configured
    production path that does not exist is an error, never a silent
    self-signed certificate.
    """
    cert, key = Path(config.tls_cert), Path(config.tls_key)
    if cert.exists() and key.exists():
        return
    if not config.tls_self_signed:
        missing = cert if not cert.exists() else key
        raise MailServerError(f"TLS file {missing} does not exist.")
    cert.parent.mkdir(parents=True, exist_ok=True)
    key.parent.mkdir(parents=True, exist_ok=True)
    result = _run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "825",
            "-subj",
            f"/CN={config.hostname}",
            "-addext",
            f"subjectAltName=DNS:{config.hostname}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        "self-signed certificate",
    )
    if result.returncode != 0:
        raise MailServerError(f"openssl failed: {_output(result)}")
    key.chmod(0o600)
    cert.chmod(0o644)


# --- rendering to files --------------------------------------------------------


def postfix_files(config: MailServerConfig) -> dict[str, RenderedFile]:
    secret = {lookup_file(name, config.postfix_db.engine) for name in POSTFIX_QUERIES}
    return {
        path: (
            RenderedFile(content, 0o640, POSTFIX_CREDENTIALS_GROUP)
            if path in secret
            else RenderedFile(content)
        )
        for path, content in render_postfix(config).items()
    }


def dovecot_files(config: MailServerConfig) -> dict[str, RenderedFile]:
    return {
        path: (
            RenderedFile(content, 0o640, DOVECOT_CREDENTIALS_GROUP)
            if path == DOVECOT_SQL_FILE
            else RenderedFile(content)
        )
        for path, content in render_dovecot(config).items()
    }


def _write(directory: Path, files: Mapping[str, RenderedFile]) -> None:
    for relative, rendered in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        # Created with its final mode, so a password is never world-readable.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, rendered.mode)
        with os.fdopen(fd, "w") as handle:
            handle.write(rendered.content)
        os.chmod(tmp, rendered.mode)
        if rendered.group and os.geteuid() == 0:
            try:
                os.chown(tmp, 0, grp.getgrnam(rendered.group).gr_gid)
            except KeyError:
                os.chmod(tmp, rendered.mode & 0o600)
        os.replace(tmp, path)


def mailserver_render(
    target_dir: str | Path, config: MailServerConfig | None = None
) -> MailServerConfig:
    """Write a self-contained configuration into TARGET/postfix and TARGET/dovecot.

    The paths inside point into TARGET, so ``postfix -c TARGET/postfix`` and
    ``dovecot -c TARGET/dovecot/dovecot.conf`` run it as it is. Returns the
    configuration used.
    """
    target = Path(target_dir).resolve()
    config = dataclasses.replace(
        config or MailServerConfig.from_settings(),
        postfix_dir=target / "postfix",
        dovecot_dir=target / "dovecot",
    )
    ensure_tls_certificate(config)
    ensure_postfix_directories(config)
    _write(config.postfix_dir, postfix_files(config))
    _write(config.dovecot_dir, dovecot_files(config))
    return config


def ensure_postfix_directories(config: MailServerConfig) -> None:
    """Create the queue and data directories; ``postfix check`` fills them in.

    postfix(1) refuses to run, even to check, without its queue directory.
    """
    Path(config.postfix_queue_dir).mkdir(mode=0o755, parents=True, exist_ok=True)
    data = Path(config.postfix_data_dir)
    if not data.exists():
        data.mkdir(mode=0o700, parents=True)
        if os.geteuid() == 0:
            # The master's lock file and the TLS caches live here.
            shutil.chown(data, "postfix", "postfix")


# --- validation ----------------------------------------------------------------


def validate_postfix(config_dir: Path) -> None:
    """``postfix check`` plus ``postconf``'s warnings about unknown parameters."""
    result = _run(["postfix", "-c", str(config_dir), "check"], "postfix check")
    if result.returncode != 0:
        # postfix(1) logs its fatal errors to the mail log, not to stderr.
        details = _output(result) or "details are in the mail log"
        raise MailServerError(f"postfix check failed: {details}")
    result = _run(["postconf", "-c", str(config_dir), "-n"], "postconf")
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    if result.returncode != 0 or warnings:
        raise MailServerError(
            f"postconf rejected main.cf: {' '.join(warnings) or _output(result)}"
        )


def validate_dovecot(config_file: Path) -> None:
    result = _run(["doveconf", "-c", str(config_file), "-n"], "doveconf")
    if result.returncode != 0:
        raise MailServerError(f"doveconf -n failed: {_output(result)}")


# --- apply ---------------------------------------------------------------------

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> None:
    """Swap two directories atomically; two renames where the kernel cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        renameat2 = None
    if renameat2 is not None:
        result = renameat2(
            _AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE
        )
        if result == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOSYS, errno.EXDEV):
            raise OSError(err, os.strerror(err), str(a))
    parked = a.with_name(a.name + ".mailpanel-swap")
    os.rename(a, parked)
    os.rename(b, a)
    os.rename(parked, b)


def _stage(live: Path, files: Mapping[str, RenderedFile]) -> Path:
    """A copy of ``live`` (or an empty directory) with ``files`` written in."""
    live.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{live.name}.mailpanel-", dir=live.parent))
    if live.is_dir():
        shutil.copytree(live, staging, symlinks=True, dirs_exist_ok=True)
        shutil.copystat(live, staging)
    else:
        staging.chmod(0o755)
    _write(staging, files)
    return staging


def _swap_in(live: Path, staging: Path) -> None:
    previous = live.with_name(live.name + PREVIOUS_SUFFIX)
    if not live.exists():
        os.rename(staging, live)
        return
    _exchange(live, staging)
    shutil.rmtree(previous, ignore_errors=True)
    os.rename(staging, previous)


def postfix_running(config_dir: Path) -> bool:
    result = _run(["postfix", "-c", str(config_dir), "status"], "postfix status")
    return result.returncode == 0


def dovecot_running(config_file: Path) -> bool:
    result = _run(["doveconf", "-c", str(config_file), "-h", "base_dir"], "doveconf")
    if result.returncode != 0:
        return False
    pid_file = Path(result.stdout.strip()) / "master.pid"
    try:
        os.kill(int(pid_file.read_text().strip()), 0)
    except (OSError, ValueError):
        return False
    return True


def mailserver_apply(
    config: MailServerConfig | None = None, reload: bool = True
) -> MailServerConfig:
    """Render into the live directories after validating a complete copy.

    Raises MailServerError, with the live configuration untouched, when
    rendering or validation fails. Running daemons are reloaded afterwards.
    """
    config = config or MailServerConfig.from_settings()
    ensure_tls_certificate(config)
    ensure_postfix_directories(config)
    postfix_dir = config.postfix_dir.resolve()
    dovecot_dir = config.dovecot_dir.resolve()
    config = dataclasses.replace(
        config, postfix_dir=postfix_dir, dovecot_dir=dovecot_dir
    )
    postfix_stage = _stage(postfix_dir, postfix_files(config))
    dovecot_stage = None
    try:
        dovecot_stage = _stage(dovecot_dir, dovecot_files(config))
        validate_postfix(postfix_stage)
        validate_dovecot(dovecot_stage / "dovecot.conf")
    except BaseException:
        shutil.rmtree(postfix_stage, ignore_errors=True)
        if dovecot_stage is not None:
            shutil.rmtree(dovecot_stage, ignore_errors=True)
        raise
    _swap_in(postfix_dir, postfix_stage)
    _swap_in(dovecot_dir, dovecot_stage)
    if reload:
        if postfix_running(postfix_dir):
            result = _run(["postfix", "-c", str(postfix_dir), "reload"], "reload")
            if result.returncode != 0:
                raise MailServerError(f"postfix reload failed: {_output(result)}")
        conf = dovecot_dir / "dovecot.conf"
        if dovecot_running(conf):
            result = _run(["doveadm", "-c", str(conf), "reload"], "reload")
            if result.returncode != 0:
                raise MailServerError(f"dovecot reload failed: {_output(result)}")
    return config


# --- Dovecot auth cache -------------------------------------------------------


def dovecot_flush_auth_cache(
    username: str, config_file: str | Path | None = None
) -> bool:
    """Forget cached logins of ``username`` so a new password applies at once.

    The rendered configuration has no auth cache, so this is a no-op there;
    it matters where an installation enables ``auth_cache_size`` in
    local.conf. Returns False (and logs) instead of raising when Dovecot is
    not running, because a saved password must not fail on that.
    """
    if config_file is None:
        from django.conf import settings

        config_file = Path(settings.MAILPANEL_DOVECOT_DIR) / "dovecot.conf"
    try:
        # "--": a local part may start with "-" (docs/addresses.md), and
        # "-a..." would be read as flush's socket option.
        result = _run(
            ["doveadm", "-c", str(config_file), "auth", "cache", "flush"]
            + ["--", username],
            "doveadm auth cache flush",
        )
    except MailServerError as exc:
        logger.warning("%s", exc)
        return False
    if result.returncode != 0:
        logger.warning("doveadm auth cache flush %s: %s", username, _output(result))
        return False
    return True

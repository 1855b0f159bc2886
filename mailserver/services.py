"""Writing, validating and swapping in the mail server configuration.

``mailserver_apply()`` never edits live files in place: it copies each live
directory next to itself, writes the rendered files into the copy, validates
the copy with ``postfix check`` / ``postconf``, ``doveconf -n`` and
``rspamadm configtest``, and only then exchanges the copy with the live
directory in one ``renameat2`` call. A failed validation deletes the copies
and leaves the running configuration as it was; the previous directory is
kept as ``DIR.mailpanel-previous`` (without private keys).
"""

from __future__ import annotations

import ctypes
import dataclasses
import errno
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from dkim.services import SigningKey, signing_keys
from domains.crypto import SecretError
from mailserver.render import (
    DOVECOT_CREDENTIALS_GROUP,
    DOVECOT_SQL_FILE,
    POSTFIX_CREDENTIALS_GROUP,
    POSTFIX_QUERIES,
    RSPAMD_CONF,
    RSPAMD_KEY_DIR,
    MailServerConfig,
    lookup_file,
    render_dovecot,
    render_postfix,
)
from mailserver.rspamd import (
    RSPAMD_GROUP,
    ensure_rspamd_directories,
    rspamd_files,
    rspamd_reload,
    validate_rspamd,
)
from mailserver.tools import (
    MailServerError,
    RenderedFile,
    group_id,
    run_tool,
    tool_output,
    write_files,
)

logger = logging.getLogger(__name__)

PREVIOUS_SUFFIX = ".mailpanel-previous"


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
    result = run_tool(
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
        raise MailServerError(f"openssl failed: {tool_output(result)}")
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


def mailserver_render(
    target_dir: str | Path,
    config: MailServerConfig | None = None,
    *,
    keys: Sequence[SigningKey] | None = None,
) -> MailServerConfig:
    """Write a self-contained configuration into TARGET/postfix, TARGET/dovecot
    and, when signing is on, TARGET/rspamd (with the active DKIM keys).

    The paths inside point into TARGET, so ``postfix -c TARGET/postfix``,
    ``dovecot -c TARGET/dovecot/dovecot.conf`` and ``rspamd -c
    TARGET/rspamd/rspamd.conf`` run it as it is. Returns the configuration used.
    """
    target = Path(target_dir).resolve()
    config = dataclasses.replace(
        config or MailServerConfig.from_settings(),
        postfix_dir=target / "postfix",
        dovecot_dir=target / "dovecot",
        rspamd_dir=target / "rspamd",
    )
    ensure_tls_certificate(config)
    ensure_postfix_directories(config)
    for part in _parts(config, keys):
        _write_part(part.live, part)
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
    result = run_tool(["postfix", "-c", str(config_dir), "check"], "postfix check")
    if result.returncode != 0:
        # postfix(1) logs its fatal errors to the mail log, not to stderr.
        details = tool_output(result) or "details are in the mail log"
        raise MailServerError(f"postfix check failed: {details}")
    result = run_tool(["postconf", "-c", str(config_dir), "-n"], "postconf")
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    if result.returncode != 0 or warnings:
        raise MailServerError(
            f"postconf rejected main.cf: {' '.join(warnings) or tool_output(result)}"
        )


def validate_dovecot(config_file: Path) -> None:
    result = run_tool(["doveconf", "-c", str(config_file), "-n"], "doveconf")
    if result.returncode != 0:
        raise MailServerError(f"doveconf -n failed: {tool_output(result)}")


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


@dataclass(frozen=True)
class _Part:
    """One daemon's live directory and what apply writes and checks there."""

    live: Path
    files: Mapping[str, RenderedFile]
    validate: Callable[[Path], None]
    # Subdirectories rendered whole (mode, group): what is not rendered goes.
    whole: Mapping[str, tuple[int, str]] = field(default_factory=dict)


def _stage(part: _Part) -> Path:
    """A copy of the live directory (or an empty one) with the files written in."""
    live = part.live
    live.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{live.name}.mailpanel-", dir=live.parent))
    if live.is_dir():
        shutil.copytree(live, staging, symlinks=True, dirs_exist_ok=True)
        shutil.copystat(live, staging)
    else:
        staging.chmod(0o755)
    _write_part(staging, part)
    return staging


def _write_part(directory: Path, part: _Part) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, (mode, group) in part.whole.items():
        shutil.rmtree(directory / name, ignore_errors=True)
        (directory / name).mkdir(mode=mode)
        (directory / name).chmod(mode)
        gid = group_id(group)
        if gid is not None and os.geteuid() == 0:
            os.chown(directory / name, 0, gid)
    write_files(directory, part.files)


def _swap_in(part: _Part, staging: Path) -> None:
    live = part.live
    previous = live.with_name(live.name + PREVIOUS_SUFFIX)
    if not live.exists():
        os.rename(staging, live)
        return
    _exchange(live, staging)
    shutil.rmtree(previous, ignore_errors=True)
    # The previous configuration is kept to compare, not to sign with: keys
    # that are no longer rendered must not survive in it.
    for name in part.whole:
        shutil.rmtree(staging / name, ignore_errors=True)
    os.rename(staging, previous)


def postfix_running(config_dir: Path) -> bool:
    result = run_tool(["postfix", "-c", str(config_dir), "status"], "postfix status")
    return result.returncode == 0


def dovecot_running(config_file: Path) -> bool:
    result = run_tool(
        ["doveconf", "-c", str(config_file), "-h", "base_dir"], "doveconf"
    )
    if result.returncode != 0:
        return False
    pid_file = Path(result.stdout.strip()) / "master.pid"
    try:
        os.kill(int(pid_file.read_text().strip()), 0)
    except (OSError, ValueError):
        return False
    return True


def _parts(config: MailServerConfig, keys: Sequence[SigningKey] | None) -> list[_Part]:
    parts = [
        _Part(config.postfix_dir, postfix_files(config), validate_postfix),
        _Part(
            config.dovecot_dir,
            dovecot_files(config),
            lambda staged: validate_dovecot(staged / "dovecot.conf"),
        ),
    ]
    if config.signing:
        ensure_rspamd_directories(config)
        parts.append(
            _Part(
                config.rspamd_dir,
                rspamd_files(config, _signing_keys() if keys is None else keys),
                lambda staged: validate_rspamd(staged / RSPAMD_CONF),
                whole={RSPAMD_KEY_DIR: (0o750, RSPAMD_GROUP)},
            )
        )
    return parts


def _signing_keys() -> list[SigningKey]:
    try:
        return signing_keys()
    except SecretError as exc:
        # Never sign with fewer keys than the database calls active.
        raise MailServerError(f"DKIM keys: {exc}") from None


def mailserver_apply(
    config: MailServerConfig | None = None,
    reload: bool = True,
    *,
    keys: Sequence[SigningKey] | None = None,
) -> MailServerConfig:
    """Render into the live directories after validating a complete copy.

    Postfix, Dovecot and, when signing is on, rspamd with ``keys`` (default:
    every active DKIM key, ``dkim.services.signing_keys()``). Raises
    MailServerError, with the live configuration untouched, when rendering
    or validation fails. Running daemons are reloaded afterwards, rspamd
    first, so Postfix never calls a milter that lacks the new keys.
    """
    config = config or MailServerConfig.from_settings()
    ensure_tls_certificate(config)
    ensure_postfix_directories(config)
    config = dataclasses.replace(
        config,
        postfix_dir=config.postfix_dir.resolve(),
        dovecot_dir=config.dovecot_dir.resolve(),
        rspamd_dir=config.rspamd_dir.resolve(),
    )
    parts = _parts(config, keys)
    stages: list[Path] = []
    try:
        for part in parts:
            stages.append(_stage(part))
        for part, staged in zip(parts, stages, strict=True):
            part.validate(staged)
    except BaseException:
        for staged in stages:
            shutil.rmtree(staged, ignore_errors=True)
        raise
    for part, staged in zip(parts, stages, strict=True):
        _swap_in(part, staged)
    if reload:
        _reload(config)
    return config


def _reload(config: MailServerConfig) -> None:
    if config.signing:
        rspamd_reload(config)
    if postfix_running(config.postfix_dir):
        result = run_tool(
            ["postfix", "-c", str(config.postfix_dir), "reload"], "reload"
        )
        if result.returncode != 0:
            raise MailServerError(f"postfix reload failed: {tool_output(result)}")
    conf = config.dovecot_dir / "dovecot.conf"
    if dovecot_running(conf):
        result = run_tool(["doveadm", "-c", str(conf), "reload"], "reload")
        if result.returncode != 0:
            raise MailServerError(f"dovecot reload failed: {tool_output(result)}")


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
        result = run_tool(
            ["doveadm", "-c", str(config_file), "auth", "cache", "flush"]
            + ["--", username],
            "doveadm auth cache flush",
        )
    except MailServerError as exc:
        logger.warning("%s", exc)
        return False
    if result.returncode != 0:
        logger.warning("doveadm auth cache flush %s: %s", username, tool_output(result))
        return False
    return True

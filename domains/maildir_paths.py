"""Where a mailbox lives on disk: VMAIL_ROOT/DOMAIN/LOCALPART, built here only.

Every path of a mailbox's home goes through these functions: the lookup rows
Dovecot reads, the maildir jobs (move, archive, remove), the out-of-office
script, the restore of a backup. Each checks its parts again, whatever the
caller validated: a row saved before the alphabet was enforced, or a path
read back from a job or a backup manifest, must not reach another mailbox's
directory (``Path(root) / domain / "/abs"`` drops the prefix; ``"alice/"``
is alice's directory). Plain functions of their arguments, no database.
"""

from pathlib import Path

from domains.addresses import is_domain_name, is_hosted_local_part


class MailboxPathError(ValueError):
    """The parts do not make a mailbox's own directory; nothing was touched."""


def _check_parts(domain: str, local_part: str) -> None:
    if not is_domain_name(domain):
        raise MailboxPathError(f"{domain!r} is not a stored domain name")
    if not is_hosted_local_part(local_part):
        raise MailboxPathError(
            f"{local_part!r} is not a local part of the hosted alphabet "
            "(docs/addresses.md)"
        )


def mailbox_relative_dir(*, domain: str, local_part: str) -> str:
    """``DOMAIN/LOCALPART``: the home relative to any host's vmail root."""
    _check_parts(domain, local_part)
    return f"{domain}/{local_part}"


def mailbox_dir(*, root: Path, domain: str, local_part: str) -> Path:
    """``root/DOMAIN/LOCALPART``, a direct child of a direct child of ``root``."""
    _check_parts(domain, local_part)
    root = Path(root)
    domain_dir = root / domain
    home = domain_dir / local_part
    # What the callers rely on, checked as such rather than inferred from the
    # alphabet: one level for the domain, one for the mailbox ...
    if domain_dir.parent != root or home.parent != domain_dir:
        raise MailboxPathError(f"{home} is not ROOT/DOMAIN/LOCALPART")
    # ... and no symbolic link on the way that leads out of the root.
    if not home.resolve().is_relative_to(root.resolve()):
        raise MailboxPathError(f"{home} leads outside {root}")
    return home


def mailbox_dir_parts(relative: str) -> tuple[str, str]:
    """``(domain, local_part)`` of a stored ``DOMAIN/LOCALPART``, checked.

    Exactly two parts and no trailing slash: ``"example.org/alice/"`` is
    what the local part ``"alice/"`` made, not alice's directory.
    """
    domain, slash, local_part = relative.partition("/")
    if not slash:
        raise MailboxPathError(f"{relative!r} is not DOMAIN/LOCALPART")
    _check_parts(domain, local_part)
    return domain, local_part


def mailbox_dir_at(*, root: Path, relative: str) -> Path:
    """``root/DOMAIN/LOCALPART`` for a stored relative path, checked."""
    domain, local_part = mailbox_dir_parts(relative)
    return mailbox_dir(root=root, domain=domain, local_part=local_part)

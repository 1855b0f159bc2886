"""Quota usage: read from Dovecot, stored per mailbox, warned about once.

Dovecot's ``count`` quota backend keeps each mailbox's usage in its index,
so ``doveadm quota get -A`` answers from there without scanning maildirs.
The users come from the userdb iterate query (every active mailbox).
"""

from __future__ import annotations

import json
import logging
import smtplib
import subprocess
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from domains.models import Mailbox
from mailserver.models import MailboxUsage
from mailserver.services import MailServerError

logger = logging.getLogger(__name__)

TIMEOUT = 300


@dataclass(frozen=True)
class Usage:
    username: str
    bytes_used: int
    bytes_limit: int
    messages: int


def _number(value: object) -> int:
    # doveadm prints "-" for "no limit".
    try:
        return int(str(value))
    except ValueError:
        return 0


def parse_quota_json(text: str) -> dict[str, Usage]:
    """``doveadm -f json quota get -A`` output → usage per user.

    STORAGE values are KiB; MESSAGE values are counts.
    """
    rows = json.loads(text or "[]")
    found: dict[str, dict[str, int]] = {}
    for row in rows:
        user = (row.get("username") or row.get("user") or "").lower()
        if not user:
            continue
        entry = found.setdefault(user, {"bytes": 0, "limit": 0, "messages": 0})
        if row.get("type") == "STORAGE":
            entry["bytes"] = _number(row.get("value")) * 1024
            entry["limit"] = _number(row.get("limit")) * 1024
        elif row.get("type") == "MESSAGE":
            entry["messages"] = _number(row.get("value"))
    return {
        user: Usage(user, v["bytes"], v["limit"], v["messages"])
        for user, v in found.items()
    }


def dovecot_quota_usage(config_file: Path | None = None) -> dict[str, Usage]:
    config_file = config_file or Path(settings.MAILPANEL_DOVECOT_DIR) / "dovecot.conf"
    args = ["doveadm", "-c", str(config_file), "-f", "json", "quota", "get", "-A"]
    try:
        result = subprocess.run(
            args, capture_output=True, text=True, timeout=TIMEOUT, check=False
        )
    except FileNotFoundError:
        raise MailServerError("doveadm is not installed") from None
    except subprocess.TimeoutExpired:
        raise MailServerError("doveadm quota get did not answer in time") from None
    if result.returncode != 0:
        raise MailServerError(f"doveadm quota get failed: {result.stderr.strip()}")
    return parse_quota_json(result.stdout)


def quota_usage_store(usage: dict[str, Usage]) -> int:
    """Store each known mailbox's usage and warn owners past the mark."""
    mailboxes = Mailbox.objects.select_related("domain").filter(active=True)
    now = timezone.now()
    stored = 0
    for mailbox in mailboxes:
        found = usage.get(mailbox.address)
        if found is None:
            continue
        with transaction.atomic():
            row, _ = MailboxUsage.objects.update_or_create(
                mailbox=mailbox,
                defaults={
                    "bytes_used": found.bytes_used,
                    "bytes_limit": found.bytes_limit or mailbox.quota,
                    "messages": found.messages,
                    "updated": now,
                },
            )
        quota_warning_check(usage=row)
        stored += 1
    return stored


def quota_warning_check(*, usage: MailboxUsage) -> bool:
    """Mail the owner once when usage reaches the mark; True if mailed.

    Claimed with a guarded update, so two hosts storing the same numbers
    send one mail between them. Below the mark the claim is cleared, so the
    next time the mailbox fills up the owner hears again.
    """
    mark = settings.MAILPANEL_QUOTA_WARNING_PERCENT
    percent = usage.percent
    rows = MailboxUsage.objects.filter(pk=usage.pk)
    if percent is None or percent < mark:
        rows.exclude(warned_at=None).update(warned_at=None)
        return False
    if not rows.filter(warned_at=None).update(warned_at=timezone.now()):
        return False  # already warned
    mailbox = usage.mailbox
    try:
        send_mail(
            subject=f"Your mailbox {mailbox.address} is {percent}% full",
            message=(
                f"Your mailbox {mailbox.address} uses {usage.bytes_used} of its "
                f"{usage.bytes_limit} bytes ({percent}%). When it is full, new mail "
                "is refused. Delete old messages or ask your administrator for "
                "more space.\n"
            ),
            from_email=None,
            recipient_list=[mailbox.address],
        )
    except (smtplib.SMTPException, OSError) as exc:
        # Unclaimed, so the next run tries again.
        rows.update(warned_at=None)
        logger.warning("Quota warning to %s not sent: %s", mailbox.address, exc)
        return False
    return True


def quota_refresh() -> int:
    """Read this host's Dovecot and store every mailbox's usage."""
    return quota_usage_store(dovecot_quota_usage())

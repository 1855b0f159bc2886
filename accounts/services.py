"""What a mailbox owner can change, each change with its audit record.

Every service validates first and writes inside one transaction, so a refused
change writes nothing, and records an ``AuditEvent`` in the same transaction.
A password change flushes Dovecot's auth cache as the admin's does: through
``domains.services.mailbox_set_password()``, whose hook queues a task for each
mail host's worker after commit (docs/workers.md); nothing runs doveadm here.
The out-of-office reply takes the same path: ``vacation_set()`` saves the row
and asks the hooks module to queue ``vacation_sync()`` on every mail host; no
request ever writes into the vmail tree.
"""

import logging
import smtplib
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Model
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from django.views.decorators.debug import sensitive_variables

from accounts.models import AuditEvent, RecoveryAddress, Vacation
from accounts.owners import owner_mailboxes
from accounts.sieve import render_vacation_sieve
from accounts.sieve_files import sieve_script_install, sieve_script_remove
from accounts.tokens import reset_tokens
from domains.addresses import parse_address_list, split_address
from domains.lookups import PostfixSenderLogin
from domains.maildir_paths import mailbox_dir
from domains.models import Forward, Mailbox, mailbox_hooks
from domains.services import forward_set, mailbox_set_password

logger = logging.getLogger(__name__)

# At most one reset mail per mailbox in this many seconds, so the form cannot
# be used to flood someone's recovery address.
RESET_MAIL_INTERVAL = 300


def audit_event_record(
    *,
    mailbox: Mailbox,
    action: AuditEvent.Action,
    ip_address: str | None,
    detail: dict | None = None,
) -> AuditEvent:
    """Record a change made by the owner of ``mailbox``."""
    return AuditEvent.objects.create(
        mailbox=mailbox,
        address=mailbox.address,
        actor=mailbox.address,
        action=action,
        ip_address=ip_address,
        detail=detail or {},
    )


# --- Passwords -------------------------------------------------------------------


@sensitive_variables("password")
@transaction.atomic
def owner_password_set(
    *,
    mailbox: Mailbox,
    password: str,
    ip_address: str | None,
    action: AuditEvent.Action = AuditEvent.Action.PASSWORD_CHANGED,
) -> None:
    """Set a new password, live for IMAP, POP3 and SMTP at the next lookup.

    ``mailbox_set_password()`` also queues the flush of Dovecot's auth cache
    on every mail host, sent after commit (a flush before it could let a
    login cache the old hash again); the workers run doveadm, never this
    request.
    """
    mailbox_set_password(mailbox=mailbox, password=password)
    audit_event_record(mailbox=mailbox, action=action, ip_address=ip_address)


@transaction.atomic
def recovery_address_set(
    *, mailbox: Mailbox, address: str, ip_address: str | None
) -> RecoveryAddress | None:
    """Set where reset links go; an empty address removes it."""
    current = RecoveryAddress.objects.filter(mailbox=mailbox).first()
    if not address.strip():
        if current is not None:
            current.delete()
        recovery = None
    else:
        recovery = current or RecoveryAddress(mailbox=mailbox)
        recovery.address = address
        recovery.full_clean()
        recovery.save()
    audit_event_record(
        mailbox=mailbox,
        action=AuditEvent.Action.RECOVERY_CHANGED,
        ip_address=ip_address,
        detail={"address": recovery.address if recovery else ""},
    )
    return recovery


def absolute_url(path: str) -> str | None:
    """``path`` on ``MAILPANEL_BASE_URL``, for links sent by mail; None if unset.

    Never from the request: its Host header (or X-Forwarded-Host) is the
    client's choice, and a reset link to the attacker's host hands them the
    token.
    """
    base = settings.MAILPANEL_BASE_URL.rstrip("/")
    return base + path if base else None


def password_reset_request(*, address: str, ip_address: str | None) -> None:
    """Mail a reset link to the mailbox's recovery address, if it has one.

    Says nothing either way: the caller shows the same page whether or not
    ``address`` is a mailbox.
    """
    try:
        local_part, domain = split_address(address)
    except ValidationError:
        return
    mailbox = (
        owner_mailboxes()
        .filter(local_part=local_part, domain__name=domain, recovery__isnull=False)
        .select_related("recovery")
        .first()
    )
    if mailbox is None:
        return
    if absolute_url("/") is None:
        logger.warning(
            "Reset mail for mailbox %s not sent: MAILPANEL_BASE_URL is not set.",
            mailbox.pk,
        )
        return
    if not cache.add(f"accounts:reset-mail:{mailbox.pk}", 1, RESET_MAIL_INTERVAL):
        logger.info(
            "Reset mail for mailbox %s not sent: one was sent recently.", mailbox.pk
        )
        return
    uidb64 = urlsafe_base64_encode(force_bytes(mailbox.pk))
    token = reset_tokens.make_token(mailbox)
    context = {
        "mailbox": mailbox,
        "link": absolute_url(
            reverse("accounts:password_reset_confirm", args=[uidb64, token])
        ),
        "minutes": settings.MAILPANEL_PORTAL_RESET_TIMEOUT // 60,
    }
    audit_event_record(
        mailbox=mailbox,
        action=AuditEvent.Action.PASSWORD_RESET_REQUESTED,
        ip_address=ip_address,
        detail={"sent_to": mailbox.recovery.address},
    )
    try:
        send_mail(
            subject=f"Password reset for {mailbox.address}",
            message=render_to_string("accounts/password_reset_email.txt", context),
            from_email=settings.MAILPANEL_PORTAL_FROM_EMAIL or None,
            recipient_list=[mailbox.recovery.address],
        )
    except (smtplib.SMTPException, OSError) as exc:
        # The page must look the same either way; the operator reads the log.
        logger.warning("Reset mail for mailbox %s not sent: %s", mailbox.pk, exc)


def password_reset_mailbox(uidb64: str, token: str) -> Mailbox | None:
    """The mailbox a reset link is for, if the link is valid, unused and fresh."""
    try:
        pk = int(force_str(urlsafe_base64_decode(uidb64)))
    except (ValueError, TypeError, OverflowError):
        return None
    mailbox = owner_mailboxes().filter(pk=pk).first()
    return mailbox if reset_tokens.check_token(mailbox, token) else None


# --- Forwarding ------------------------------------------------------------------


NEW_FORWARD_MESSAGE = "Enter your current password to forward to a new address."


def forward_added_destinations(*, mailbox: Mailbox, destinations: str) -> list[str]:
    """The addresses in ``destinations`` the mailbox does not forward to now.

    Raises ValidationError for a malformed list, as ``Forward.clean()`` does.
    """
    current = Forward.objects.filter(mailbox=mailbox).first()
    before = set(current.destination_list) if current else set()
    if not destinations.strip():
        return []
    return [a for a in parse_address_list(destinations) if a not in before]


@transaction.atomic
def owner_forward_set(
    *,
    mailbox: Mailbox,
    destinations: str,
    keep_copy: bool,
    ip_address: str | None,
    password_checked: bool,
) -> Forward | None:
    """Replace the owner's forwarding, validated as in the admin.

    An address not forwarded to before needs ``password_checked`` (the
    portal asked for the current password): whoever holds a stolen session
    must not quietly redirect the mailbox's mail. The mailbox is then told
    (``forward_notice_send``). Removing addresses or the kept copy needs
    neither: it sends mail to no one new.
    """
    added = forward_added_destinations(mailbox=mailbox, destinations=destinations)
    if added and not password_checked:
        raise ValidationError(NEW_FORWARD_MESSAGE, code="password_required")
    forward = forward_set(
        mailbox=mailbox, destinations=destinations, keep_copy=keep_copy
    )
    audit_event_record(
        mailbox=mailbox,
        action=AuditEvent.Action.FORWARD_CHANGED,
        ip_address=ip_address,
        detail={
            "destinations": forward.destination_list if forward else [],
            "keep_copy": forward.keep_copy if forward else True,
        },
    )
    if added and forward is not None:
        forward_notice_send(forward=forward, added=added, ip_address=ip_address)
    return forward


def forward_notice_send(
    *, forward: Forward, added: list[str], ip_address: str | None
) -> bool:
    """Tell the mailbox that its mail now also goes to ``added``; True if sent.

    Sent inside the transaction that saves the forward, before it commits:
    Postfix expands the notice's recipient with the lookup rows it can see,
    the committed ones, so a forward that keeps no copy cannot carry the
    notice of its own creation to the new address. The change stands if
    the mail cannot be sent (the audit log has it); the operator reads the
    warning in the log.
    """
    mailbox = forward.mailbox
    context = {
        "mailbox": mailbox,
        "added": added,
        "destinations": forward.destination_list,
        "keep_copy": forward.keep_copy,
        "ip_address": ip_address or "an unknown address",
        "when": timezone.now(),
    }
    try:
        send_mail(
            subject=f"Forwarding of {mailbox.address} changed",
            message=render_to_string("accounts/forward_notice_email.txt", context),
            from_email=settings.MAILPANEL_PORTAL_FROM_EMAIL or None,
            recipient_list=[mailbox.address],
        )
    except (smtplib.SMTPException, OSError) as exc:
        logger.warning("Forwarding notice to mailbox %s not sent: %s", mailbox.pk, exc)
        return False
    return True


def mailbox_send_as_addresses(mailbox: Mailbox) -> list[str]:
    """Every address ``mailbox`` may send as, exactly as Postfix decides it.

    Read from the lookup table behind the ``mailpanel_sender_logins`` view:
    itself on every alias domain, aliases that deliver to it, identities.
    """
    return list(
        PostfixSenderLogin.objects.filter(login=mailbox.address)
        .order_by("address")
        .values_list("address", flat=True)
        .distinct()
    )


def mailbox_overview(mailbox: Mailbox) -> dict:
    """What the portal's first page shows about the owner's own mailbox."""
    return {
        "mailbox": mailbox,
        "send_as": mailbox_send_as_addresses(mailbox),
        "forward": Forward.objects.filter(mailbox=mailbox).first(),
        "vacation": Vacation.objects.filter(mailbox=mailbox).first(),
        "recovery": RecoveryAddress.objects.filter(mailbox=mailbox).first(),
        "usage": mailbox_usage(mailbox),
    }


def mailbox_usage(mailbox: Mailbox) -> Model | None:
    """What the mail hosts' workers last measured, or None ("not measured yet").

    A ``mailserver.MailboxUsage`` (bytes and messages used, when measured),
    read through the reverse relation Django adds to Mailbox, so accounts
    imports nothing of mailserver (which imports accounts).
    """
    try:
        return mailbox.usage
    except ObjectDoesNotExist:
        return None


# --- Out of office ---------------------------------------------------------------


def mailbox_home(mailbox: Mailbox, *, vmail_root: Path) -> Path:
    """The mailbox's home under ``vmail_root``, as the Dovecot userdb row gives it.

    Raises ``MailboxPathError`` (a ValueError) for a name that would not be
    its own directory: the script is never written into another's home.
    """
    return mailbox_dir(
        root=Path(vmail_root),
        domain=mailbox.domain.name,
        local_part=mailbox.local_part,
    )


def vacation_sync(*, mailbox: Mailbox, vmail_root: Path) -> str:
    """Make the Sieve script in the mailbox's home match its Vacation row.

    Runs on a mail host, never in a web request: ``vmail_root`` is that
    host's vmail tree (``MAILPANEL_VMAIL_ROOT`` of its worker). It reads the
    row and the addresses as they are now, so it is idempotent and may run
    twice or late: the last run always leaves the current state. Returns
    "installed" or "removed"; raises ``SieveInstallError`` (an active script
    that is not mailpanel's) or ``OSError``, which fail the worker's task.
    """
    vacation = Vacation.objects.filter(mailbox=mailbox).first()
    home = mailbox_home(mailbox, vmail_root=vmail_root)
    if vacation is None or not vacation.enabled:
        sieve_script_remove(home=home)
        return "removed"
    script = render_vacation_sieve(
        vacation, addresses=mailbox_send_as_addresses(mailbox)
    )
    sieve_script_install(
        home=home,
        script=script,
        uid=settings.MAILPANEL_VMAIL_UID,
        gid=settings.MAILPANEL_VMAIL_GID,
    )
    return "installed"


@transaction.atomic
def vacation_set(*, mailbox: Mailbox, ip_address: str | None, **fields) -> Vacation:
    """Save the owner's out-of-office reply and queue its script's update.

    Writes rows only: the row, its audit event and, through the hooks module
    (``MAILPANEL_MAILBOX_HOOKS``, mailserver.lifecycle), one outbox message
    per mail host, sent after commit. Each host's worker then runs
    ``vacation_sync()`` on its own vmail tree (docs/workers.md).
    """
    vacation = Vacation.objects.filter(mailbox=mailbox).first() or Vacation(
        mailbox=mailbox
    )
    for name, value in fields.items():
        setattr(vacation, name, value)
    vacation.full_clean()
    vacation.save()
    audit_event_record(
        mailbox=mailbox,
        action=AuditEvent.Action.VACATION_CHANGED,
        ip_address=ip_address,
        detail={
            "enabled": vacation.enabled,
            "start": vacation.start.isoformat(),
            "end": vacation.end.isoformat(),
            "reply_days": vacation.reply_days,
        },
    )
    hooks = mailbox_hooks()
    if hooks:
        hooks.vacation_changed(mailbox=mailbox)
    return vacation

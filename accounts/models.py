"""Panel accounts.

Administrators are Django's own users (django.contrib.auth); mailbox owners
log in with their mailbox address and are never Django users, so a mailbox
password can never open the admin. What an owner sets for themselves beyond
the mail data model (a recovery address, an out-of-office reply) lives here,
one-to-one with ``domains.Mailbox``: ``domains`` never learns about the portal.
"""

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q

MIN_REPLY_DAYS = 1
# Pigeonhole refuses a longer :days (sieve_vacation_max_period defaults to 60d).
MAX_REPLY_DAYS = 60
REPLY_DAYS_MESSAGE = f"Choose between {MIN_REPLY_DAYS} and {MAX_REPLY_DAYS} days."
UNSCRIPTABLE_MESSAGE = (
    "Remove the NUL or broken (surrogate) character: a reply cannot hold it."
)


def normalize_line_breaks(text: str) -> str:
    """CRLF and lone CRs as LF, the one line break a Sieve script holds."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def is_script_text(text: str) -> bool:
    """Whether ``text`` can go into a Sieve string: Pigeonhole refuses NUL,
    and a lone surrogate cannot be written as UTF-8 at all."""
    return not any(c == "\x00" or "\ud800" <= c <= "\udfff" for c in text)


class AuditEvent(models.Model):
    """One change made through the portal: who, what, when, from which IP.

    Rows are only ever inserted. ``address`` keeps the mailbox's address as it
    was, so an event still says whose it was after the mailbox is deleted.
    Details never hold a password, a hash or a reset token.
    """

    class Action(models.TextChoices):
        LOGIN = "login", "logged in"
        LOGOUT = "logout", "logged out"
        PASSWORD_CHANGED = "password_changed", "changed the password"
        PASSWORD_RESET_REQUESTED = (
            "password_reset_requested",
            "asked for a password reset link",
        )
        PASSWORD_RESET = "password_reset", "reset the password with a link"
        RECOVERY_CHANGED = "recovery_changed", "changed the recovery address"
        FORWARD_CHANGED = "forward_changed", "changed forwarding"
        VACATION_CHANGED = "vacation_changed", "changed the out-of-office reply"

    created = models.DateTimeField(auto_now_add=True, db_index=True)
    mailbox = models.ForeignKey(
        "domains.Mailbox",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    address = models.CharField(max_length=254)
    actor = models.CharField(
        max_length=254, help_text="Who did it: the mailbox owner's login address."
    )
    action = models.CharField(max_length=32, choices=Action.choices)
    ip_address = models.GenericIPAddressField("IP address", null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created", "-pk"]
        indexes = [models.Index(fields=["address", "-created"])]

    def __str__(self) -> str:
        return f"{self.actor} {self.get_action_display()}"


class RecoveryAddress(models.Model):
    """Where a mailbox's password reset links go: an address outside it.

    A forgotten password also locks the owner out of the mailbox itself, so a
    link sent there could never be read.
    """

    mailbox = models.OneToOneField(
        "domains.Mailbox", on_delete=models.CASCADE, related_name="recovery"
    )
    address = models.CharField(max_length=254)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "recovery addresses"

    def __str__(self) -> str:
        return self.address

    def clean(self) -> None:
        from domains.addresses import normalize_address

        try:
            self.address = normalize_address(self.address)
        except ValidationError as exc:
            raise ValidationError({"address": exc.messages}) from None
        if self.mailbox_id and self.address == self.mailbox.address:
            raise ValidationError(
                {
                    "address": "A forgotten password also locks you out of this "
                    "mailbox: choose an address somewhere else."
                }
            )


class Vacation(models.Model):
    """An out-of-office reply, delivered as a Sieve vacation script.

    The row is the owner's wish; ``accounts.services.vacation_sync()``, run by
    each mail host's worker, makes the script in the mailbox's home match it.
    """

    mailbox = models.OneToOneField(
        "domains.Mailbox", on_delete=models.CASCADE, related_name="vacation"
    )
    enabled = models.BooleanField(default=False)
    subject = models.CharField(max_length=200, blank=True)
    message = models.TextField(max_length=10000, blank=True)
    start = models.DateField("first day")
    end = models.DateField("last day")
    reply_days = models.PositiveSmallIntegerField(
        "answer each sender at most once every (days)", default=7
    )
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(end__gte=F("start")),
                name="vacation_end_after_start",
                violation_error_message="The last day cannot be before the first day.",
            ),
            models.CheckConstraint(
                condition=Q(reply_days__gte=MIN_REPLY_DAYS)
                & Q(reply_days__lte=MAX_REPLY_DAYS),
                name="vacation_reply_days_range",
                violation_error_message=REPLY_DAYS_MESSAGE,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.mailbox_id}: {self.start} – {self.end}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        # Sieve strings hold LF line breaks (sieve.py writes CRLF as LF); a
        # bare CR is "stray" to Pigeonhole, and the script would not compile.
        self.message = normalize_line_breaks(self.message or "")
        for name in ("subject", "message"):
            if not is_script_text(getattr(self, name) or ""):
                errors[name] = UNSCRIPTABLE_MESSAGE
        if self.start and self.end and self.end < self.start:
            errors["end"] = "The last day cannot be before the first day."
        if not MIN_REPLY_DAYS <= (self.reply_days or 0) <= MAX_REPLY_DAYS:
            errors["reply_days"] = REPLY_DAYS_MESSAGE
        if self.enabled and not self.subject.strip():
            errors["subject"] = "Enter a subject for the reply."
        if self.enabled and not self.message.strip():
            errors["message"] = "Enter the message to reply with."
        if "subject" not in errors and any(ord(c) < 32 for c in self.subject or ""):
            # A line break in a subject would be a header of its own.
            errors["subject"] = "The subject must be a single line."
        if errors:
            raise ValidationError(errors)
